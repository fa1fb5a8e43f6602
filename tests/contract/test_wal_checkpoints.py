"""When SQLite's write-ahead log is copied back into the database (:mod:`strongroom.metadata.wal`).

No commit checkpoints: SQLite's automatic checkpoint ran inside the commit that crossed
1,000 pages, under the writers' lock, and the next request's write waited for its
``fsync``\\ s (the p99 of a manifest PUT at c=1). Passive checkpoints run in a thread of
their own after writes let go of their locks; a write that finds the WAL past its bound
truncates it under the writers' lock, on every path a write takes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine
from strongroom.metadata.wal import CHECKPOINT_WAL_BYTES, PASSIVE_EVERY_WRITES, WalCheckpoints

pytestmark = pytest.mark.anyio

CHECKPOINTER = "strongroom-wal-checkpoint"


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


@pytest.mark.parametrize("small", [False, True], ids=["pooled", "small"])
async def test_no_commit_checkpoints(tmp_path: Path, small: bool) -> None:
    """Fewer writes than a passive checkpoint waits for, 2,000 pages and more of them,
    under the WAL's bound: the database file holds none of it yet. A pooled connection's
    commit used to checkpoint from 1,000 pages, under the writers' lock."""
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"))
    try:
        await _make_payloads(database)
        before = path.stat().st_size
        writes = PASSIVE_EVERY_WRITES // 2
        for _ in range(writes):
            await database.write(lambda: _insert(database, 2**19), small=small)
        assert writes * 2**19 > 1000 * 4096 and writes * 2**19 < CHECKPOINT_WAL_BYTES
        assert path.stat().st_size == before
        assert _checkpointers() == 0
        for engine in database.engines:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    finally:
        database.close()


@pytest.mark.parametrize("writes_on_loop", [False, True], ids=["worker", "job-process"])
async def test_writes_are_checkpointed_in_a_thread_of_their_own(tmp_path: Path, writes_on_loop: bool) -> None:
    path = tmp_path / "meta.db"
    database = Database(create_engine(f"sqlite:///{path}"), writes_on_loop=writes_on_loop)
    try:
        await _make_payloads(database)
        inserts = PASSIVE_EVERY_WRITES - 1  # the table's creation was a write
        for _ in range(inserts):
            await database.write(lambda: _insert(database, 2**16))
        deadline = time.monotonic() + 10
        while path.stat().st_size < inserts * 2**16 and time.monotonic() < deadline:
            await anyio.sleep(0.01)
        assert path.stat().st_size >= inserts * 2**16, "the WAL was not copied back"
        assert _checkpointers() == 1
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM payloads").fetchone() == (inserts,)
    finally:
        database.close()
    assert _checkpointers() == 0, "closing the database stops its checkpoints"


@pytest.mark.parametrize(
    ("small", "writes_on_loop"),
    [(False, False), (True, False), (False, True)],
    ids=["pooled", "small", "job-process"],
)
async def test_concurrent_writes_keep_the_wal_bounded(
    tmp_path: Path, small: bool, writes_on_loop: bool
) -> None:
    """Sixteen writers at once, on each path a write takes: writers appending while the
    passive checkpoint copies keep the WAL from restarting; the write that finds it past
    its bound truncates it under the writers' lock (a checkpoint run after the lock was
    let go of met the next write appending: the WAL was never reset)."""
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
