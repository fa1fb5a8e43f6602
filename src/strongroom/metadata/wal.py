"""SQLite's write-ahead log: when it is copied back into the database (checkpointed).

No connection checkpoints in its commit (``wal_autocheckpoint`` 0, set in
:mod:`~strongroom.metadata.engine`). SQLite's automatic checkpoint runs inside the commit
that crossed 1,000 pages, under the writers' lock our writers hold across it: every 40 to
45 manifest PUTs, the next request's write waited 8 to 15 ms for its ``fsync``\\ s (the p99
of a manifest PUT at c=1, 11-12 ms where the reference's was 7-8). Instead, two kinds:

- **Passive, out of band** (:meth:`WalCheckpoints.wrote`): after every
  :data:`PASSIVE_EVERY_WRITES` writes of this process, a thread of its own copies what the
  WAL holds into the database, on a connection of its own, after the writer let go of
  every lock. It waits for no writer and blocks none (SQLite's ``PASSIVE`` mode): writers
  append while it copies. The WAL restarts from its beginning when a writer finds all of
  it copied.
- **Truncating, the bound** (:meth:`WalCheckpoints.due`, under the writers' lock): with
  writers appending back to back the WAL is seldom all copied when the next one begins,
  so it would not restart. Once its file passed :data:`CHECKPOINT_WAL_BYTES` the write
  that finds it so copies the rest and truncates it before it lets go of the writers'
  lock, so that nobody appends meanwhile (run after, concurrent pushes kept the WAL from
  ever being reset: 134 MiB of WAL for 75 MiB written). The passive checkpoints having
  copied most of it, this one has little left to copy.

Nothing here opens a file of the database other than through SQLite: closing any
descriptor of a file drops every POSIX lock the process holds on it, and SQLite keeps its
WAL locks on ``<database>-shm`` (reading that file's header to count frames did exactly
that, found by a hostile review). The WAL file's size is read with ``stat``, which opens
nothing. SQLite's own connections share their descriptors within a process.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

import anyio
import anyio.to_thread
import sqlalchemy as sa

from strongroom.metadata.engine import sqlite_file

logger = logging.getLogger("strongroom.metadata")

CHECKPOINT_WAL_BYTES = 4000 * (4096 + 24)
"""The WAL's size from which a write truncates it under the writers' lock: 4,000 pages of
4 KiB and their frame headers (16 MiB). It also resets the file once a long reader let it
grow past this size. It does not bound the WAL while readers keep older snapshots:
SQLite cannot reset it under them (a busy checkpoint is tried again four writes later)."""
CHECKPOINT_MIN_WRITES = 4
"""Writes at least between two truncating checkpoints (one a long reader kept from
finishing leaves the WAL as long: not one try per write)."""
PASSIVE_EVERY_WRITES = 32
"""A passive checkpoint after every this many writes of a process: about 600 pages of a
manifest PUT's 20, below SQLite's 1,000."""


class WalCheckpoints:
    """A process's checkpoints of one SQLite database (see the module)."""

    def __init__(self, engine: sa.Engine) -> None:
        database = sqlite_file(engine.url)
        assert database is not None, "a SQLite file"
        self._database = database
        self._wal = f"{database}-wal"
        self._writes = 0
        self._thread = anyio.CapacityLimiter(1)
        self._connection: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()
        """Held by each checkpoint of this process while it runs: a truncating one waits
        for a passive one to end rather than meet its lock and fail (16 writers at once
        grew the WAL to three times its bound that way, the passive thread under load)."""
        self._since_passive = 0
        self._passive = _PassiveCheckpointer(database, self._checkpointing)

    def wrote(self) -> None:
        """A write of this process ended and let go of its locks: every
        :data:`PASSIVE_EVERY_WRITES`, wake the passive checkpoint (it does not wait)."""
        self._since_passive += 1
        if self._since_passive >= PASSIVE_EVERY_WRITES:
            self._since_passive = 0
            self._passive.wake()

    def due(self) -> bool:
        """Whether the write that just committed, holding the writers' lock, is the one
        after which to truncate the WAL (:meth:`checkpoint`, :meth:`checkpoint_here`)."""
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
        """:meth:`checkpoint_here` in a thread of its own (from the event loop: it waits
        for none of the pooled threads, which slow reads may hold)."""
        await anyio.to_thread.run_sync(self.checkpoint_here, limiter=self._thread)

    def checkpoint_here(self) -> None:
        """Copy the WAL back into the database and truncate it, waiting for nobody (busy
        timeout 0): with a reader still on an older snapshot it copies what it may and
        leaves the WAL as it is, to be tried again. The caller holds the writers' lock, so
        no other writer appends meanwhile and the WAL can be reset. Its failure fails no
        write (the one that came before committed); a later one tries again. A passive
        checkpoint of this process running is waited for; another process's makes this
        one busy, tried again four writes later."""
        try:
            with self._checkpointing:
                if self._connection is None:
                    self._connection = _connect(self._database)
                self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except Exception:
            logger.warning("could not checkpoint the SQLite write-ahead log", exc_info=True)

    def close(self) -> None:
        self._passive.close()
        with self._checkpointing:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class _PassiveCheckpointer:
    """One thread, started at the first wake, that runs a passive checkpoint each time it
    is woken (wakes while one runs make one more, not one each)."""

    def __init__(self, database: str, checkpointing: threading.Lock) -> None:
        self._database = database
        self._checkpointing = checkpointing
        self._woken = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self._closing:
                return
            if self._thread is None or not self._thread.is_alive():  # not in a forked child
                self._thread = threading.Thread(
                    target=self._run, name="strongroom-wal-checkpoint", daemon=True
                )
                self._thread.start()
        self._woken.set()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._woken.wait()
                self._woken.clear()
                if self._closing:
                    return
                try:
                    with self._checkpointing:
                        if connection is None:
                            connection = _connect(self._database)
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception:
                    logger.warning("could not checkpoint the SQLite write-ahead log", exc_info=True)
        finally:
            if connection is not None:
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        self._woken.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


def _connect(database: str) -> sqlite3.Connection:
    """A connection that checkpoints only when told to and waits for no lock."""
    connection = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection
