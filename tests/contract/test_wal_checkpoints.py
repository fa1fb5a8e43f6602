"""When SQLite's write-ahead log is copied back into the database (:mod:`strongroom.metadata.wal`).

The checkpoints that restart the WAL run under the writers' lock (a pooled commit's
automatic one, the small writes' truncating one), and the next writer waits for what they
copy; a thread of the process's own copies most of it earlier, outside every lock. The
WAL stays bounded on every path a write takes."""

from __future__ import annotations

import functools
import gc
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.engine import WAL_KEPT_BYTES, create_engine
from strongroom.metadata.wal import CHECKPOINT_THREAD, CHECKPOINT_WAL_BYTES, WalCheckpoints

pytestmark = pytest.mark.anyio

CHECKPOINTER = CHECKPOINT_THREAD
EACH_WRITE_PATH = pytest.mark.parametrize(
    ("small", "writes_on_loop"),
    [(False, False), (True, False), (False, True)],
    ids=["pooled", "small", "job-process"],
)
"""A worker's pooled write, a worker's small write on its loop, the job process's write."""


async def _make_payloads(database: Database) -> None:
    def make() -> None:
        with database.writing() as conn:
            conn.execute(sa.text("CREATE TABLE payloads (body BLOB NOT NULL)"))

    await database.write(make)


def _insert(database: Database, size: int) -> None:
    with database.writing(effect=True) as conn:
        conn.execute(sa.text("INSERT INTO payloads VALUES (randomblob(:size))"), {"size": size})


def _scalar(database: Database, sql: str) -> int:
    with database.reading() as conn:
        return int(conn.scalar(sa.text(sql)) or 0)


def _checkpointers() -> int:
    return sum(thread.name == CHECKPOINTER and thread.is_alive() for thread in threading.enumerate())


async def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await anyio.sleep(0.01)
    return condition()


@EACH_WRITE_PATH
async def test_the_wal_is_copied_back_early_in_a_thread_of_its_own(
    tmp_path: Path, small: bool, writes_on_loop: bool
) -> None:
    """Past 256 pages and short of the 1,000 at which a pooled commit checkpoints (and of
    the small writes' bound), what the WAL holds is in the database file: copied by a
    thread of the process's own, which closing the database stops."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"), writes_on_loop=writes_on_loop)
    try:
        await _make_payloads(database)
        inserts = 8
        for _ in range(inserts):  # 2 MiB, 512 pages
            await database.write(lambda: _insert(database, 2**18), small=small)
        assert WAL_KEPT_BYTES < inserts * 2**18 < 1000 * 4096
        assert await _wait_for(lambda: path.stat().st_size >= inserts * 2**18), "the WAL was not copied back"
        assert _checkpointers() == 1
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM payloads").fetchone() == (inserts,)
    finally:
        database.close()
    assert _checkpointers() == 0, "closing the database stops its copies"


async def _write_and_leave_open(path: Path) -> None:
    database = Database(create_engine(f"sqlite:///{path}"))
    await _make_payloads(database)
    for _ in range(8):
        await database.write(functools.partial(_insert, database, 2**18))
    assert await _wait_for(lambda: _checkpointers() == 1)
    database.engine.dispose()


async def test_a_database_never_closed_lets_its_copying_thread_end(tmp_path: Path) -> None:
    await _write_and_leave_open(tmp_path / "meta.db")
    gc.collect()
    assert await _wait_for(lambda: _checkpointers() == 0), "the thread outlived its database"


async def test_a_copy_that_cannot_start_fails_no_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread that cannot start (a limit on a container's processes) is logged; the
    write it followed committed and says so."""

    def refuse(_thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_payloads(database)
        monkeypatch.setattr(threading.Thread, "start", refuse)
        for _ in range(8):
            await database.write(lambda: _insert(database, 2**18))
        monkeypatch.undo()
        assert await database.read(lambda: _scalar(database, "SELECT count(*) FROM payloads")) == 8
    finally:
        database.close()


@EACH_WRITE_PATH
async def test_concurrent_writes_keep_the_wal_bounded(
    tmp_path: Path, small: bool, writes_on_loop: bool
) -> None:
    """Sixteen writers at once, on each path a write takes: writers appending while the
    early copy runs never let it restart the WAL; the checkpoints under the writers' lock
    do (a checkpoint run after the lock was let go of met the next write appending: the
    WAL was never reset)."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"), writes_on_loop=writes_on_loop)
    try:
        await _make_payloads(database)
        biggest = 0
        each = 4 * CHECKPOINT_WAL_BYTES // (16 * 32768)  # four bounds written in all

        async def writer() -> None:
            nonlocal biggest
            for _ in range(each):
                await database.write(lambda: _insert(database, 32768), small=small)
                biggest = max(biggest, Path(f"{path}-wal").stat().st_size)

        async with anyio.create_task_group() as tasks:
            for _ in range(16):
                tasks.start_soon(writer)
        assert biggest < 2 * CHECKPOINT_WAL_BYTES, f"the WAL grew to {biggest / 2**20:.1f} MiB"
        assert await database.read(lambda: _scalar(database, "SELECT count(*) FROM payloads")) == 16 * each
    finally:
        database.close()


async def test_large_small_writes_keep_the_wal_bounded(tmp_path: Path) -> None:
    """Their connection never checkpoints in its commits: the database checkpoints for it,
    by count and as the WAL grows (large manifests), or the WAL would grow without bound
    (four times the checkpoint's threshold written, in rows of 256 KiB)."""
    path = tmp_path / "meta.db"
    worker = Database(create_engine(f"sqlite:///{path}"))
    try:

        def make() -> None:
            with worker.writing() as conn:
                conn.execute(sa.text("CREATE TABLE payloads (n INTEGER NOT NULL, body BLOB NOT NULL)"))

        await worker.write(make)

        async def put(n: int) -> None:
            def work() -> None:
                with worker.writing() as conn:
                    conn.execute(
                        sa.text("INSERT INTO payloads VALUES (:n, :body)"),
                        {"n": n, "body": os.urandom(256 * 1024)},
                    )

            await worker.write(work, small=True)

        rows = 4 * CHECKPOINT_WAL_BYTES // (256 * 1024)
        for n in range(rows):
            await put(n)
        wal = Path(f"{path}-wal").stat().st_size
        assert wal < 2 * CHECKPOINT_WAL_BYTES, f"the WAL grew to {wal / 2**20:.1f} MiB"
        count = await worker.read(lambda: _scalar(worker, "SELECT count(*) FROM payloads"))
        assert count == rows
    finally:
        worker.close()


async def test_a_checkpoint_waits_for_no_reader_and_truncates_the_wal_when_it_may(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader = sqlite3.connect(path, isolation_level=None)
    checkpoints = WalCheckpoints(create_engine(f"sqlite:///{path}"))
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE payloads (body BLOB)")
        writer.execute("INSERT INTO payloads VALUES (?)", (os.urandom(64 * 1024),))
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM payloads").fetchone() == (1,)
        writer.execute("INSERT INTO payloads VALUES (?)", (os.urandom(64 * 1024),))
        started = time.monotonic()
        await checkpoints.checkpoint()  # the reader's snapshot needs the WAL: it stays
        assert time.monotonic() - started < 1.0
        assert Path(f"{path}-wal").stat().st_size > 64 * 1024
        assert reader.execute("SELECT count(*) FROM payloads").fetchone() == (1,)
        reader.execute("COMMIT")
        await checkpoints.checkpoint()
        assert Path(f"{path}-wal").stat().st_size == 0
        assert writer.execute("SELECT count(*) FROM payloads").fetchone() == (2,)
    finally:
        checkpoints.close()
        for conn in (writer, reader):
            conn.close()


async def test_a_small_write_after_the_wal_grew_large_runs_in_a_thread(tmp_path: Path) -> None:
    """A reader kept the WAL from restarting while it grew past its bound: the first commit
    after it restarts cuts the file back (about 1 ms a MiB), which the event loop must not
    do (300 ms for 300 MiB): small writes run in a thread until the file is small again."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"))
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        await _make_payloads(database)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM payloads").fetchall()
        for _ in range(CHECKPOINT_WAL_BYTES // 2**20 + 2):
            await database.write(lambda: _insert(database, 2**20), small=True)
        reader.execute("COMMIT")
        ran_on: list[int] = []

        def work() -> None:
            ran_on.append(threading.get_ident())
            _insert(database, 16)

        await database.write(work, small=True)
        assert ran_on != [threading.get_ident()], "it ran on the event loop"
        wal = Path(f"{path}-wal")
        for _ in range(200):  # pooled commits checkpoint and restart the WAL: the file is cut
            await database.write(work, small=True)
            if wal.stat().st_size < CHECKPOINT_WAL_BYTES:
                break
            await anyio.sleep(0.01)
        assert wal.stat().st_size < CHECKPOINT_WAL_BYTES
        ran_on.clear()
        await database.write(work, small=True)
        assert ran_on == [threading.get_ident()], "back on the event loop"
    finally:
        reader.close()
        database.close()
