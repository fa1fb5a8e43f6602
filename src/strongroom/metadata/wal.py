"""SQLite's write-ahead log: when the small writes a server worker runs on its event loop
(``Database.write(small=True)``) have it checkpointed. Their connection never checkpoints
in its commit (:func:`~strongroom.metadata.engine.loop_reader`): a checkpoint syncs the
WAL and the database file, which the loop must not wait for.

Nothing here opens a file of the database: closing any descriptor of a file drops every
POSIX lock the process holds on it, and SQLite keeps its WAL locks on ``<database>-shm``
(reading that file's header to count frames did exactly that, found by a hostile review).
The WAL file's size is read with ``stat``, which opens nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3

import anyio
import anyio.to_thread
import sqlalchemy as sa

from strongroom.metadata.engine import sqlite_file

logger = logging.getLogger("strongroom.metadata")

CHECKPOINT_WAL_BYTES = 4000 * (4096 + 24)
"""The WAL's size from which the small writes have it checkpointed: 4,000 pages of 4 KiB
and their frame headers (16 MiB). Pooled connections checkpoint in their commits from
1,000 pages (SQLite's automatic checkpoint, passive, restarting the WAL without shrinking
its file); under pushes the job process's, claiming the jobs each push queues, gets there
first. This is the small writes' own checkpoint for when no pooled write comes (a server
without its job process), and what resets the file once a long reader let it grow past
this size. At 1,000 pages it won the race instead, in the serving worker, truncating and
regrowing the WAL file: 21 of 25 checkpoints per 1,000 manifest PUTs, which ran 5-13%
fewer a second. The price, without a job process: a checkpoint a quarter as often and
about four times as long, all writers waiting for it (ADR 0023, last addendum). Neither
value bounds the WAL while readers keep older snapshots: SQLite cannot reset it under
them (a busy checkpoint is tried again four writes later)."""
CHECKPOINT_MIN_WRITES = 4
"""Small writes at least between two checkpoints (one a long reader kept from finishing
leaves the WAL as long: not one try per write)."""


class WalCheckpoints:
    """Counts a process's small writes, says after which one to checkpoint, and does it
    (:meth:`checkpoint`): on a connection of its own, in a thread of its own, so that
    neither waits for the pool's eight, which slow reads may hold for long while the
    writer that checkpoints holds the writers' lock."""

    def __init__(self, engine: sa.Engine) -> None:
        database = sqlite_file(engine.url)
        assert database is not None, "a SQLite file"
        self._database = database
        self._wal = f"{database}-wal"
        self._writes = 0
        self._thread = anyio.CapacityLimiter(1)
        self._connection: sqlite3.Connection | None = None

    def due(self) -> bool:
        """Whether the write that just committed is the one after which to checkpoint."""
        self._writes += 1
        if self._writes < CHECKPOINT_MIN_WRITES:
            return False
        try:
            size = os.stat(self._wal).st_size
        except OSError:  # the write committed: nothing to fail it for
            return False
        if size < CHECKPOINT_WAL_BYTES:
            return False
        self._writes = 0
        return True

    async def checkpoint(self) -> None:
        """Copy the WAL back into the database and truncate it, waiting for nobody (busy
        timeout 0): with a reader still on an older snapshot it copies what it may and
        leaves the WAL as it is, to be tried again. The caller holds the writers' lock, so
        no other writer appends meanwhile and the WAL can be reset. Its failure fails no
        write (the one that came before committed); a later one tries again."""
        try:
            await anyio.to_thread.run_sync(self._checkpoint, limiter=self._thread)
        except Exception:
            logger.warning("could not checkpoint the SQLite write-ahead log", exc_info=True)

    def _checkpoint(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(
                self._database, timeout=0, isolation_level=None, check_same_thread=False
            )
        self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
