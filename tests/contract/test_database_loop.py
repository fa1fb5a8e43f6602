"""Small reads (``Database.read``): on SQLite they run on the event loop itself, on a
connection of their own; they must see every committed write, never block the loop on a
lock, and stay correct when several threads with loops of their own read at once. On
PostgreSQL they run in a thread, as every other unit of work does.

The job process's writes (``writes_on_loop``) run on its loop on SQLite too, queued behind
the writes of other processes as a worker thread's are."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.engine import POOL_SIZE, create_engine

pytestmark = pytest.mark.anyio

NUMBERS = sa.table("numbers", sa.column("n", sa.Integer))


async def _make_numbers(database: Database) -> None:
    def work() -> None:
        with database.writing() as conn:
            conn.execute(sa.text("CREATE TABLE numbers (n INTEGER NOT NULL)"))

    await database.write(work)


async def _add(database: Database, n: int) -> None:
    def work() -> None:
        with database.writing() as conn:
            conn.execute(NUMBERS.insert().values(n=n))

    await database.write(work)


def _count(database: Database) -> int:
    with database.reading() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(NUMBERS)) or 0)


async def test_a_small_read_runs_on_the_loop_on_sqlite_and_in_a_thread_on_postgresql(
    database: Database,
) -> None:
    await _make_numbers(database)
    ran_on: list[int] = []

    def work() -> int:
        ran_on.append(threading.get_ident())
        return _count(database)

    assert await database.read(work) == 0
    on_the_loop = ran_on == [threading.get_ident()]
    assert on_the_loop is (database.dialect == "sqlite")


async def test_a_small_read_sees_every_write_committed_before_it(database: Database) -> None:
    """The loop's connection is kept between reads: it must never keep a snapshot."""
    await _make_numbers(database)
    other = create_engine(database.engine.url.render_as_string(hide_password=False))
    try:
        for n in range(1, 21):
            if n % 2:
                await _add(database, n)
            else:  # another connection, as another process would write
                with other.begin() as conn:
                    conn.execute(NUMBERS.insert().values(n=n))
            assert await database.read(lambda: _count(database)) == n
    finally:
        other.dispose()


async def test_a_failed_read_leaves_the_next_one_working(database: Database) -> None:
    await _make_numbers(database)

    def broken() -> None:
        with database.reading() as conn:
            conn.execute(sa.text("SELECT n FROM numbers"))
            conn.execute(sa.text("SELECT nothing FROM nowhere"))

    for _ in range(3):
        with pytest.raises(sa.exc.DBAPIError):
            await database.read(broken)
        await _add(database, 1)
    assert await database.read(lambda: _count(database)) == 3


async def test_a_read_within_a_read_shares_its_transaction(database: Database) -> None:
    await _make_numbers(database)
    await _add(database, 1)

    def nested() -> tuple[int, int]:
        with database.reading():
            return _count(database), _count(database)

    assert await database.read(nested) == (1, 1)
    assert await database.read(lambda: _count(database)) == 1  # and it was closed


async def test_a_locked_database_sends_the_read_to_a_thread_and_the_loop_runs_on(tmp_path: Path) -> None:
    """Another program holds SQLite's exclusive lock: the read must wait in a thread (busy
    timeout), not on the event loop, and answer once the lock is released."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(database)
        database.engine.dispose()  # no connection open: the other program can lock it all
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO numbers VALUES (7)")

        def release() -> None:
            holder.execute("COMMIT")
            holder.close()  # in exclusive locking mode the lock lasts until the close

        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        timer = threading.Timer(0.5, release)
        started = time.monotonic()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tick)
            timer.start()
            found = await database.read(lambda: _count(database))
            tasks.cancel_scope.cancel()
        timer.join()
        assert found == 1  # the row committed by the holder before it let go
        assert time.monotonic() - started >= 0.45
        assert ticks >= 20, f"the event loop ran {ticks} times in half a second: it was blocked"
    finally:
        database.close()


async def test_threads_with_loops_of_their_own_read_at_once(database: Database) -> None:
    """The loop's connection is one: a thread that finds it taken reads in a thread."""
    await _make_numbers(database)
    await _add(database, 1)
    failures: list[BaseException] = []

    def reader() -> None:
        async def many() -> None:
            for _ in range(200):
                assert await database.read(lambda: _count(database)) == 1

        try:
            anyio.run(many)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        assert await database.read(lambda: _count(database)) == 1
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


async def test_a_write_on_the_loop_runs_there_on_sqlite_and_in_a_thread_on_postgresql(
    database: Database,
) -> None:
    await _make_numbers(database)
    background = Database(database.engine, writes_on_loop=True)  # the job process's
    ran_on: list[int] = []

    def work() -> None:
        ran_on.append(threading.get_ident())
        with background.writing() as conn:
            conn.execute(NUMBERS.insert().values(n=1))

    await background.write(work)
    on_the_loop = ran_on == [threading.get_ident()]
    assert on_the_loop is (database.dialect == "sqlite")
    assert await database.read(lambda: _count(database)) == 1


async def test_a_write_on_the_loop_waits_for_another_process_s_write(tmp_path: Path) -> None:
    """A server worker is inside its write transaction: the job process's write on its loop
    must queue behind it (the writers' lock), not fail as "database is locked", and commit
    after it."""
    path = tmp_path / "meta.db"
    server = Database(create_engine(f"sqlite:///{path}"))
    jobs = Database(create_engine(f"sqlite:///{path}"), writes_on_loop=True)
    try:
        await _make_numbers(server)
        inside, order = threading.Event(), []

        def slow() -> None:
            with server.writing() as conn:
                conn.execute(NUMBERS.insert().values(n=1))
                inside.set()
                time.sleep(0.3)
            order.append("server")

        def quick() -> None:
            with jobs.writing() as conn:
                conn.execute(NUMBERS.insert().values(n=2))
            order.append("job")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.write, slow)
            await anyio.to_thread.run_sync(inside.wait)
            await jobs.write(quick)
        assert order == ["server", "job"]
        assert await jobs.read(lambda: _count(jobs)) == 2
    finally:
        jobs.close()
        server.close()


async def test_a_write_on_the_loop_waits_for_a_connection_without_holding_the_writers_lock(
    tmp_path: Path,
) -> None:
    """Every pooled connection is held by a slow read in a thread (eight jobs reading): the
    job process's write must wait for one without blocking its loop and without holding
    the writers' lock, which a server worker's write needs meanwhile."""
    path = tmp_path / "meta.db"
    server = Database(create_engine(f"sqlite:///{path}"))
    jobs = Database(create_engine(f"sqlite:///{path}"), writes_on_loop=True)
    try:
        await _make_numbers(server)
        reading, release = threading.Semaphore(0), threading.Event()

        def slow_read() -> int:
            with jobs.reading() as conn:
                reading.release()
                release.wait(timeout=30)
                return int(conn.scalar(sa.select(sa.func.count()).select_from(NUMBERS)) or 0)

        ticks, server_waited, written = 0, -1.0, anyio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not written.is_set():
                ticks += 1
                await anyio.sleep(0.01)

        async def job_write() -> None:
            await _add(jobs, 2)  # waits for a connection
            written.set()

        async def server_write() -> None:
            nonlocal server_waited
            started = time.monotonic()
            await _add(server, 1)
            server_waited = time.monotonic() - started

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tick)
            for _ in range(POOL_SIZE):
                tasks.start_soon(jobs.run, slow_read)
            for _ in range(POOL_SIZE):
                await anyio.to_thread.run_sync(reading.acquire)
            tasks.start_soon(job_write)
            await anyio.sleep(0.2)
            await server_write()
            ticks_before = ticks
            await anyio.sleep(0.5)
            assert ticks - ticks_before >= 20, "the job process's loop was blocked"
            release.set()
        assert server_waited < 1.0, f"the server's write waited {server_waited:.2f} s behind the job's"
        assert await jobs.read(lambda: _count(jobs)) == 2
    finally:
        release.set()
        jobs.close()
        server.close()
