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

import os
import sqlite3

import sqlalchemy as sa

from strongroom.metadata.engine import BUSY_TIMEOUT_MS, sqlite_file

CHECKPOINT_WAL_BYTES = 1000 * (4096 + 24)
"""The WAL's size from which the small writes have it checkpointed: 1,000 pages of 4 KiB
and their frame headers, where SQLite's own automatic checkpoint comes. Their checkpoint
truncates the WAL (:func:`checkpoint`), so its size is what was written since."""
CHECKPOINT_MIN_WRITES = 4
"""Small writes at least between two checkpoints (one a long reader kept from finishing
leaves the WAL as long: not one try per write)."""


class WalCheckpoints:
    """Counts a process's small writes and says after which one to checkpoint."""

    def __init__(self, engine: sa.Engine) -> None:
        database = sqlite_file(engine.url)
        assert database is not None, "a SQLite file"
        self._wal = f"{database}-wal"
        self._writes = 0

    def due(self) -> bool:
        """Whether the write that just committed is the one after which to checkpoint."""
        self._writes += 1
        if self._writes < CHECKPOINT_MIN_WRITES:
            return False
        try:
            size = os.stat(self._wal).st_size
        except FileNotFoundError:
            return False
        if size < CHECKPOINT_WAL_BYTES:
            return False
        self._writes = 0
        return True


def checkpoint(connection: sqlite3.Connection) -> None:
    """Copy the WAL back into the database and truncate it, waiting for nobody (busy
    timeout 0 for the while): with a reader still on an older snapshot it copies what it
    may and leaves the WAL as it is, to be tried again. Run by a writer holding the
    writers' lock, so no other writer appends meanwhile and the WAL can be reset."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
