"""Small reads (``Database.read``): on SQLite they run on the event loop itself, on a
connection of their own; they must see every committed write, never block the loop on a
lock, and stay correct when several threads with loops of their own read at once. On
PostgreSQL they run in a thread, as every other unit of work does.

The job process's writes (``writes_on_loop``) run on its loop on SQLite too, queued behind
the writes of other processes as a worker thread's are; so do a server worker's small
writes (``write(small=True)``), which wait for the writers' lock in a thread, never on the
loop."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from anyio.abc import TaskGroup

from strongroom.metadata.database import Database
from strongroom.metadata.engine import POOL_SIZE, create_engine
from strongroom.metadata.wal import CHECKPOINT_WAL_BYTES

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


async def _hold_every_pooled_thread(database: Database, tasks: TaskGroup, release: threading.Event) -> None:
    """A slow read (a report) in each of the pool's threads, holding its connection and
    snapshot until ``release``; returns once all of them are inside."""
    reading = threading.Semaphore(0)

    def slow_read() -> int:
        with database.reading() as conn:
            count = conn.scalar(sa.select(sa.func.count()).select_from(NUMBERS))
            reading.release()
            release.wait(timeout=30)
            return int(count or 0)

    for _ in range(POOL_SIZE):
        tasks.start_soon(database.run, slow_read)
    for _ in range(POOL_SIZE):
        await anyio.to_thread.run_sync(reading.acquire)


def _write_locked_by_a_program(path: Path, seconds: float = 0.3) -> threading.Timer:
    """SQLite's write lock held by a program that does not take the writers' lock (the
    sqlite3 shell) for ``seconds``; the timer that lets go of it, started."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(seconds, lambda: (holder.execute("COMMIT"), holder.close()))
    timer.start()
    return timer


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


async def test_the_loop_s_connection_is_kept_between_units_of_work_and_replaced_after_a_failure(
    tmp_path: Path,
) -> None:
    """Kept open from one small read or write to the next (checking it out of its pool
    and back cost a quarter of a small read's CPU); after a unit of work that failed, a
    new one, so that nothing the failure left (a transaction, SQLAlchemy's state after a
    refused ``BEGIN``) reaches the next."""
    database = Database(create_engine(f"sqlite:///{tmp_path / 'meta.db'}"))
    seen: list[sa.Connection] = []

    def which() -> int:
        with database.reading() as conn:
            seen.append(conn)
            return len(seen)

    def broken() -> None:
        with database.reading() as conn:
            seen.append(conn)
            conn.execute(sa.text("SELECT nothing FROM nowhere"))

    def small_write() -> None:
        with database.writing() as conn:
            seen.append(conn)
            conn.execute(NUMBERS.insert().values(n=1))

    try:
        await _make_numbers(database)
        await database.read(which)
        await database.write(small_write, small=True)
        await database.read(which)
        assert seen[0] is seen[1] is seen[2]
        with pytest.raises(sa.exc.DBAPIError):
            await database.read(broken)
        assert seen[3] is seen[0] and seen[0].closed  # the failed unit's, closed
        await database.read(which)
        assert seen[4] is not seen[0] and not seen[4].closed
        assert await database.read(lambda: _count(database)) == 1
    finally:
        database.close()
    assert seen[4].closed


async def test_a_small_write_whose_commit_failed_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A COMMIT refused by a deferred constraint ends SQLAlchemy's transaction but may leave
    SQLite's open, holding the write lock and an old snapshot: a work that catches the
    error must not have the kept connection carry it on (found by a hostile review)."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"))

    def make_tables() -> None:
        with database.writing() as conn:
            conn.execute(sa.text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
            conn.execute(
                sa.text(
                    "CREATE TABLE children (parent INTEGER REFERENCES parents (id)"
                    " DEFERRABLE INITIALLY DEFERRED)"
                )
            )

    def orphan() -> str:
        try:
            with database.writing() as conn:
                conn.execute(sa.text("INSERT INTO children VALUES (7)"))
        except sa.exc.IntegrityError:
            return "refused"
        return "stored"

    try:
        await database.write(make_tables)
        await _make_numbers(database)
        assert await database.write(orphan, small=True) == "refused"
        other = sqlite3.connect(path, timeout=1, isolation_level=None)
        try:
            other.execute("INSERT INTO numbers VALUES (1)")  # the write lock is free
        finally:
            other.close()
        assert await database.read(lambda: _count(database)) == 1  # and a read sees it
    finally:
        database.close()


async def test_a_read_after_a_small_write_is_a_read(tmp_path: Path) -> None:
    """The kept connection's small write asked for ``BEGIN IMMEDIATE``; the read after it
    must begin as a read: with another program holding SQLite's write lock it still runs
    on the loop (a ``BEGIN IMMEDIATE`` would have found the lock taken and gone to a
    thread)."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(database)
        await _add_small(database, 1)
        timer = _write_locked_by_a_program(path, seconds=0.5)
        ran_on: list[int] = []

        def work() -> int:
            ran_on.append(threading.get_ident())
            return _count(database)

        try:
            assert await database.read(work) == 1
            assert ran_on == [threading.get_ident()]
        finally:
            timer.join()
    finally:
        database.close()


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

        ticks, tick = _ticking()
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
        assert ticks[0] >= 20, f"the event loop ran {ticks[0]} times in half a second: it was blocked"
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
        release = threading.Event()
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
            await _hold_every_pooled_thread(jobs, tasks, release)
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


# Small writes (``write(small=True)``, a push's manifest): on SQLite they run on the event
# loop of a server worker too, never waiting there.


async def _add_small(database: Database, n: int, ran_on: list[int] | None = None) -> None:
    def work() -> None:
        if ran_on is not None:
            ran_on.append(threading.get_ident())
        with database.writing() as conn:
            conn.execute(NUMBERS.insert().values(n=n))

    await database.write(work, small=True)


async def test_a_small_write_runs_on_the_loop_on_sqlite_and_in_a_thread_on_postgresql(
    database: Database,
) -> None:
    await _make_numbers(database)
    ran_on: list[int] = []
    await _add_small(database, 1, ran_on)
    on_the_loop = ran_on == [threading.get_ident()]
    assert on_the_loop is (database.dialect == "sqlite")
    assert await database.read(lambda: _count(database)) == 1


async def test_a_failed_small_write_leaves_nothing_and_lets_go_of_the_locks(database: Database) -> None:
    await _make_numbers(database)

    def broken() -> None:
        with database.writing() as conn:
            conn.execute(NUMBERS.insert().values(n=1))
            raise RuntimeError("the push is refused")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            await database.write(broken, small=True)
    await _add_small(database, 2)
    other = Database(database.engine)  # as another process: its own handle on the writers' lock
    await _add(other, 3)
    assert await database.read(lambda: _count(database)) == 2


def _ticking() -> tuple[list[int], Callable[[], Awaitable[None]]]:
    ticks = [0]

    async def tick() -> None:
        while True:
            ticks[0] += 1
            await anyio.sleep(0.01)

    return ticks, tick


async def test_a_small_write_waits_for_another_process_s_write_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """Another worker is inside its write transaction: the small write waits for the
    writers' lock (in a thread), the event loop runs on meanwhile, and it commits after."""
    path = tmp_path / "meta.db"
    other = Database(create_engine(f"sqlite:///{path}"))
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(other)
        inside, order = threading.Event(), []

        def slow() -> None:
            with other.writing() as conn:
                conn.execute(NUMBERS.insert().values(n=1))
                inside.set()
                time.sleep(0.5)
            order.append("other")

        def quick() -> None:
            with worker.writing() as conn:
                conn.execute(NUMBERS.insert().values(n=2))
            order.append("worker")

        ticks, tick = _ticking()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tick)
            tasks.start_soon(other.write, slow)
            await anyio.to_thread.run_sync(inside.wait)
            started = ticks[0]
            await worker.write(quick, small=True)
            tasks.cancel_scope.cancel()
        assert order == ["other", "worker"]
        assert ticks[0] - started >= 20, "the event loop was blocked while the write waited"
        assert await worker.read(lambda: _count(worker)) == 2
    finally:
        worker.close()
        other.close()


async def test_a_small_write_waits_in_a_thread_for_a_program_holding_sqlite_s_lock(tmp_path: Path) -> None:
    """A program that does not take the writers' lock (the sqlite3 shell) holds SQLite's
    write lock: BEGIN IMMEDIATE on the loop finds it busy, and the write goes to a thread,
    where the busy timeout waits; the loop runs on, and the row is written once."""
    path = tmp_path / "meta.db"
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(worker)
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO numbers VALUES (7)")
        timer = threading.Timer(0.5, lambda: (holder.execute("COMMIT"), holder.close()))
        ran_on: list[int] = []
        ticks, tick = _ticking()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tick)
            timer.start()
            await _add_small(worker, 1, ran_on)
            tasks.cancel_scope.cancel()
        timer.join()
        assert ticks[0] >= 20, f"the event loop ran {ticks[0]} times in half a second: it was blocked"
        assert len(ran_on) == 2 and ran_on[1] != threading.get_ident()  # tried on the loop, then a thread
        assert sorted(await worker.read(lambda: _numbers(worker))) == [1, 7]
    finally:
        worker.close()


def _numbers(database: Database) -> list[int]:
    with database.reading() as conn:
        return list(conn.scalars(sa.select(NUMBERS.c.n)))


async def test_a_small_write_cancelled_while_it_waits_lets_go_of_the_writers_lock(tmp_path: Path) -> None:
    """Cancelled while a thread waits for the writers' lock: the thread takes it all the
    same when the other writer lets go, and the lock must be released again, the work not
    run (the request is gone)."""
    path = tmp_path / "meta.db"
    other = Database(create_engine(f"sqlite:///{path}"))
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(other)
        inside = threading.Event()

        def slow() -> None:
            with other.writing() as conn:
                conn.execute(NUMBERS.insert().values(n=1))
                inside.set()
                time.sleep(0.3)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(other.write, slow)
            await anyio.to_thread.run_sync(inside.wait)
            with anyio.move_on_after(0.05):
                await _add_small(worker, 2)
        started = time.monotonic()
        with anyio.fail_after(5):
            await _add(other, 3)
        assert time.monotonic() - started < 1.0
        assert sorted(await other.read(lambda: _numbers(other))) == [1, 3]
    finally:
        worker.close()
        other.close()


def _scalar(database: Database, sql: str) -> int:
    with database.reading() as conn:
        return int(conn.scalar(sa.text(sql)) or 0)


_REWRITER = """
import sqlite3, sys
import anyio, sqlalchemy as sa
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine
db = Database(create_engine(f"sqlite:///{sys.argv[1]}"))
def rewrite():
    with db.writing() as conn:
        conn.execute(sa.text("UPDATE t SET v = 'new', body = randomblob(3000)"))
def one():
    with db.writing() as conn:
        conn.execute(sa.text("UPDATE t SET v = 'newest' WHERE n = 0"))
async def main():
    for _ in range(3):
        await db.write(rewrite)
    # as a process's passive checkpoint does (none runs in a commit)
    sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    await db.write(one)  # finds the WAL copied back: resets it
anyio.run(main)
"""


async def test_a_long_read_keeps_its_snapshot_through_small_writes_and_another_process_s_checkpoints(
    tmp_path: Path,
) -> None:
    """A report reads in a thread, in one transaction, while this worker's small writes
    run and another process rewrites every row and checkpoints. Small writes must leave
    SQLite's locks on the WAL index alone (closing any descriptor of that file drops them
    all): without its read mark the report's snapshot was checkpointed over, and its
    second statement saw new rows among the old."""
    path = tmp_path / "meta.db"
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:

        def make() -> None:
            with worker.writing() as conn:
                conn.execute(sa.text("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT, body BLOB)"))
                for n in range(500):
                    conn.execute(sa.text("INSERT INTO t VALUES (:n, 'old', randomblob(3000))"), {"n": n})

        await worker.write(make)
        started, go = threading.Event(), threading.Event()

        def report() -> list[tuple[str, int]]:
            with worker.reading() as conn:
                conn.execute(sa.text("SELECT count(*) FROM t")).all()
                started.set()
                go.wait(timeout=60)
                return [(v, n) for v, n in conn.execute(sa.text("SELECT v, count(*) FROM t GROUP BY v"))]

        seen: list[tuple[str, int]] = []

        async def run_report() -> None:
            seen.extend(await worker.run(report))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_report)
            await anyio.to_thread.run_sync(started.wait)
            for n in range(8):

                def push(n: int = n) -> None:
                    with worker.writing(effect=True) as conn:
                        conn.execute(sa.text("INSERT INTO t VALUES (:n, 'pushed', x'00')"), {"n": 10_000 + n})

                await worker.write(push, small=True)
            other = await anyio.run_process([sys.executable, "-c", _REWRITER, str(path)], check=False)
            go.set()
        assert other.returncode == 0, other.stderr.decode()[-500:]
        assert seen == [("old", 500)]
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        worker.close()


@pytest.mark.parametrize("handling", ["returns", "wraps"])
async def test_a_small_write_whose_work_catches_the_lock_error_still_goes_to_a_thread(
    tmp_path: Path, handling: str
) -> None:
    """A work that catches every exception around its write (a best-effort write, or one
    that wraps it in an error of its own) must not swallow the fallback: it was told
    SQLite is locked, and it runs again in a thread."""
    path = tmp_path / "meta.db"
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(worker)
        timer = _write_locked_by_a_program(path)

        def work() -> str:
            try:
                with worker.writing() as conn:
                    conn.execute(NUMBERS.insert().values(n=1))
            except Exception as error:
                if handling == "wraps":
                    raise LookupError("the store failed") from error
                return f"swallowed {type(error).__name__}"
            return "written"

        assert await worker.write(work, small=True) == "written"
        timer.join()
        assert await worker.read(lambda: _numbers(worker)) == [1]
    finally:
        worker.close()


async def test_a_first_small_write_on_an_exclusively_locked_file_waits_in_a_thread(tmp_path: Path) -> None:
    """The loop's connection opens at its first use, with a busy timeout of 0: locked then
    (another program's exclusive lock), the small write waits in a thread, as a small
    read and any other write do, instead of failing with "database is locked"."""
    path = tmp_path / "meta.db"
    setup = Database(create_engine(f"sqlite:///{path}"))
    await _make_numbers(setup)
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO numbers VALUES (7)")
    holder.execute("COMMIT")
    timer = threading.Timer(0.3, holder.close)
    timer.start()
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _add_small(worker, 1)
        timer.join()
        assert sorted(await worker.read(lambda: _numbers(worker))) == [1, 7]
    finally:
        worker.close()


async def test_a_small_write_is_one_write_transaction(database: Database) -> None:
    await _make_numbers(database)

    def twice() -> None:
        with database.writing() as conn:
            conn.execute(NUMBERS.insert().values(n=1))
        with database.writing() as conn:
            conn.execute(NUMBERS.insert().values(n=2))

    if database.dialect != "sqlite":
        await database.write(twice, small=True)  # nothing small about it there
        return
    with pytest.raises(RuntimeError, match="one write transaction"):
        await database.write(twice, small=True)
    assert await database.read(lambda: _numbers(database)) == [1]


async def test_a_small_write_s_checkpoint_waits_for_no_pooled_connection(tmp_path: Path) -> None:
    """Every pooled connection and thread is held by a slow read (reports): a small write
    that finds a checkpoint due, holding the writers' lock, must not wait for one of them,
    or every writer of every process waits behind it."""
    path = tmp_path / "meta.db"
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(worker)
        release = threading.Event()

        def big(n: int) -> Callable[[], None]:
            def work() -> None:
                with worker.writing() as conn:
                    conn.execute(sa.text("INSERT INTO numbers VALUES (:n)"), {"n": n})
                    conn.execute(sa.text("CREATE TABLE IF NOT EXISTS filler (body BLOB)"))
                    conn.execute(sa.text("INSERT INTO filler VALUES (randomblob(1048576))"))

            return work

        slowest = 0.0
        async with anyio.create_task_group() as tasks:
            await _hold_every_pooled_thread(worker, tasks, release)
            for n in range(CHECKPOINT_WAL_BYTES // 2**20 + 2):  # of 1 MiB: a checkpoint falls due
                started = time.monotonic()
                with anyio.fail_after(10):
                    await worker.write(big(n), small=True)
                slowest = max(slowest, time.monotonic() - started)
            release.set()
        assert slowest < 1.0, f"a small write waited {slowest:.1f} s for a pooled connection"
    finally:
        release.set()
        worker.close()


async def test_a_small_write_waits_for_the_writers_lock_without_a_pooled_thread(tmp_path: Path) -> None:
    """Slow reads hold every pooled thread while another process writes: the small write
    waits for that process's write only, not for the reads too."""
    path = tmp_path / "meta.db"
    other = Database(create_engine(f"sqlite:///{path}"))
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(other)
        release, inside = threading.Event(), threading.Event()

        def slow_write() -> None:
            with other.writing() as conn:
                conn.execute(NUMBERS.insert().values(n=1))
                inside.set()
                time.sleep(0.3)

        async with anyio.create_task_group() as tasks:
            await _hold_every_pooled_thread(worker, tasks, release)
            tasks.start_soon(other.write, slow_write)
            await anyio.to_thread.run_sync(inside.wait)
            started = time.monotonic()
            with anyio.fail_after(10):
                await _add_small(worker, 2)
            waited = time.monotonic() - started
            release.set()
        assert waited < 1.5, f"the small write waited {waited:.1f} s, for the reads too"
        assert sorted(await worker.read(lambda: _numbers(worker))) == [1, 2]
    finally:
        release.set()
        worker.close()
        other.close()


async def test_a_small_write_cancelled_natively_while_it_waits_leaves_the_writers_lock_free(
    tmp_path: Path,
) -> None:
    """``Task.cancel()`` (which anyio's shielding does not stop) while a thread waits for
    the writers' lock: once the other process lets go, that thread must not keep the lock
    for nobody (every other process's writer would wait until this one wrote again)."""
    path = tmp_path / "meta.db"
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(worker)
        other = os.open(f"{path}-writers", os.O_RDWR)  # another process's hold
        try:
            fcntl.flock(other, fcntl.LOCK_EX)
            task = asyncio.ensure_future(_add_small(worker, 1))
            await asyncio.sleep(0.2)  # its thread waits for the lock now
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            fcntl.flock(other, fcntl.LOCK_UN)
            await asyncio.sleep(0.2)
            probe = os.open(f"{path}-writers", os.O_RDWR)  # a third process
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if kept
                fcntl.flock(probe, fcntl.LOCK_UN)
            finally:
                os.close(probe)
        finally:
            os.close(other)
        assert await worker.read(lambda: _numbers(worker)) == []
    finally:
        worker.close()


async def test_a_small_write_sent_to_a_thread_lets_go_of_the_writers_lock_while_it_waits(
    tmp_path: Path,
) -> None:
    """SQLite was locked by a program outside the writers' lock: the small write runs in a
    pooled thread instead, and while it waits for one (slow reads hold them all) it must
    not hold the writers' lock every other process's writer needs."""
    path = tmp_path / "meta.db"
    other = Database(create_engine(f"sqlite:///{path}"))
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_numbers(other)
        release = threading.Event()
        async with anyio.create_task_group() as tasks:
            await _hold_every_pooled_thread(worker, tasks, release)
            _write_locked_by_a_program(path)
            tasks.start_soon(_add_small, worker, 2)  # finds SQLite locked: to a thread
            await anyio.sleep(0.1)
            started = time.monotonic()
            with anyio.fail_after(10):
                await _add(other, 1)
            waited = time.monotonic() - started
            release.set()
        assert waited < 1.5, f"another process's write waited {waited:.1f} s behind the small write"
        assert sorted(await worker.read(lambda: _numbers(worker))) == [1, 2]
    finally:
        release.set()
        worker.close()
        other.close()
