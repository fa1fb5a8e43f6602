"""SQLite's write-ahead log: when the small writes a server worker runs on its event loop
(``Database.write(small=True)``) have it checkpointed. Their connection never checkpoints
in its commit (:func:`~strongroom.metadata.engine.loop_reader`): a checkpoint syncs the
WAL and the database file, which the loop must not wait for."""

from __future__ import annotations

import os
import struct

import sqlalchemy as sa

from strongroom.metadata.engine import sqlite_file

CHECKPOINT_FRAMES = 1000
"""Pages in the WAL not yet copied back into the database after which the small writes
have one checkpointed, as SQLite's own automatic checkpoint does at its default of 1,000."""
CHECKPOINT_MIN_WRITES = 4
"""Small writes at least between two such checkpoints (one that a long reader kept from
finishing leaves the WAL as long: not one try per write)."""
CHECKPOINT_FALLBACK_WRITES = 64
"""When the WAL index cannot be read (:func:`wal_frames_pending`): a checkpoint every so
many small writes."""
_WAL_INDEX_VERSION = 3007000


def wal_frames_pending(shm: str) -> int | None:
    """Frames in the WAL that no checkpoint has copied back yet (``mxFrame - nBackfill``),
    read from the header of the WAL index (``<database>-shm``; its layout is SQLite's
    documented one, https://sqlite.org/walformat.html, version 3007000 since 3.7.0, in
    the machine's byte order). Read without SQLite's locks: a torn read only moves a
    checkpoint by a write. None if the file or its version is not what is expected."""
    try:
        fd = os.open(shm, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        header = os.pread(fd, 100, 0)
    finally:
        os.close(fd)
    if len(header) < 100 or struct.unpack_from("=I", header, 0)[0] != _WAL_INDEX_VERSION:
        return None
    frames: int = struct.unpack_from("=I", header, 16)[0]
    backfilled: int = struct.unpack_from("=I", header, 96)[0]
    return max(frames - backfilled, 0)


class WalCheckpoints:
    """Counts a process's small writes and says after which one to checkpoint."""

    def __init__(self, engine: sa.Engine) -> None:
        database = sqlite_file(engine.url)
        assert database is not None, "a SQLite file"
        self._wal_index = f"{database}-shm"
        self._writes = 0

    def due(self) -> bool:
        """Whether the write that just committed is the one after which to checkpoint."""
        self._writes += 1
        if self._writes < CHECKPOINT_MIN_WRITES:
            return False
        pending = wal_frames_pending(self._wal_index)
        due = self._writes >= CHECKPOINT_FALLBACK_WRITES if pending is None else pending >= CHECKPOINT_FRAMES
        if due:
            self._writes = 0
        return due
