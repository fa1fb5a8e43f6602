"""SQLite's write-ahead log: when the small writes a server worker runs on its event loop
(``Database.write(small=True)``) have it checkpointed. Their connection never checkpoints
in its commit (:func:`~strongroom.metadata.engine.loop_reader`): a checkpoint syncs the
WAL and the database file, which the loop must not wait for.

Nothing here opens a file of the database: closing any descriptor of a file drops every
POSIX lock the process holds on it, and SQLite keeps its WAL locks on ``<database>-shm``
(reading that file's header to count frames did exactly that, found by a hostile review).
The WAL file's size is read with ``stat``, which opens nothing.

Every checkpoint that restarts the WAL runs under the writers' lock, so that nobody
appends while it copies: a pooled connection's automatic one (in its commit, from 1,000
pages) and the small writes' truncating one. What they copy is waited for by the next
writer: the 1,000 pages made a manifest PUT wait 8-15 ms every 40-45 PUTs (the p99 at
c=1). So, earlier and outside every lock, a thread of the process's own copies what the
WAL holds once it passed 256 pages (:meth:`WalCheckpoints.wrote`, a ``PASSIVE``
checkpoint: it waits for no writer and blocks none), and the one under the lock finds
most of it copied already. Copying alone never restarts the WAL under continuous writes
(a checkpoint outside the lock tried that: the WAL then grew to its 16 MiB bound and its
truncation, 80-200 ms under the lock, doubled the tail of large writes).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref

import anyio
import anyio.to_thread
import sqlalchemy as sa

from strongroom.metadata.engine import WAL_KEPT_BYTES, sqlite_file

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
CHECKPOINT_THREAD = "strongroom-wal-checkpoint"
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
        self._woken_at = 0
        """The WAL file's size when the early copy was last woken."""
        self.wal_large = False
        """The WAL file was past :data:`CHECKPOINT_WAL_BYTES` after the last write: the
        first commit after the WAL restarts cuts it back (``journal_size_limit``), about
        1 ms a MiB, which a small write must not do on the event loop (300 ms for a WAL a
        long reader let grow to 300 MiB); it runs in a thread of its own meanwhile."""
        self._early = _EarlyCopier(database)
        weakref.finalize(self, self._early.stop)  # a Database never closed

    def wrote(self) -> None:
        """A write of this process ended and let go of its locks: once the WAL holds more
        than :data:`~strongroom.metadata.engine.WAL_KEPT_BYTES`, wake the early copy (it
        does not wait). It never fails the write, which committed."""
        try:
            size = os.stat(self._wal).st_size
            self.wal_large = size >= CHECKPOINT_WAL_BYTES
            if size <= WAL_KEPT_BYTES:
                self._woken_at = 0
            # once per 256 pages more (a WAL that does not restart under continuous writes
            # would otherwise be copied after every write), or from a file cut back
            elif not 0 <= size - self._woken_at < WAL_KEPT_BYTES:
                self._woken_at = size
                self._early.wake()
        except Exception:  # a thread that cannot start (a limit on processes), a stat
            logger.warning("could not copy the SQLite write-ahead log back early", exc_info=True)

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
        write (the one that came before committed); a later one tries again. An early
        copy of this process is waited for; another process's makes this one busy, tried
        again four writes later."""
        try:
            await anyio.to_thread.run_sync(self._checkpoint, limiter=self._thread)
        except Exception:
            logger.warning("could not checkpoint the SQLite write-ahead log", exc_info=True)

    def _checkpoint(self) -> None:
        with self._early.checkpointing:
            if self._connection is None:
                self._connection = _connect(self._database)
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self._early.close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _EarlyCopier:
    """One thread, started at the first wake, that runs a passive checkpoint each time it
    is woken (wakes while one runs make one more, not one each), on a connection of its
    own that waits for no lock."""

    def __init__(self, database: str) -> None:
        self._database = database
        self.checkpointing = threading.Lock()
        """Held by each checkpoint of this process while it runs: the truncating one waits
        for an early copy to end rather than meet its lock and give up (sixteen writers
        grew the WAL past four times its bound that way)."""
        self._woken = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        _copiers.add(self)

    def forked(self) -> None:
        """In a forked child: what the parent's thread held (its locks, possibly taken at
        the fork, and its connection, which SQLite forbids using across a fork) is not
        this process's; the first wake starts a thread of its own."""
        self.checkpointing = threading.Lock()
        self._lock = threading.Lock()
        self._woken = threading.Event()
        self._thread = None
        self._connection = None

    def wake(self) -> None:
        with self._lock:
            if self._closing:
                return
            if self._thread is None or not self._thread.is_alive():  # not in a forked child
                thread = threading.Thread(target=self._run, name=CHECKPOINT_THREAD, daemon=True)
                thread.start()
                self._thread = thread
        self._woken.set()

    def _run(self) -> None:
        try:
            while True:
                self._woken.wait()
                self._woken.clear()
                if self._closing:
                    return
                self._copy()
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _copy(self) -> None:
        try:
            with self.checkpointing:
                if self._connection is None:
                    self._connection = _connect(self._database)
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.OperationalError as error:  # locked by a closing connection, interrupted
            logger.info("an early copy of the SQLite write-ahead log did not run: %s", error)
        except Exception:
            logger.warning("could not copy the SQLite write-ahead log back early", exc_info=True)

    def stop(self) -> None:
        """Let the thread end, without waiting for it; a checkpoint it runs is interrupted
        (which is safe, and from any thread)."""
        with self._lock:
            self._closing = True
        connection = self._connection
        if connection is not None:
            connection.interrupt()
        self._woken.set()

    def close(self) -> None:
        """:meth:`stop`, and wait for the thread to end."""
        with self._lock:
            thread = self._thread
        self.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


def _connect(database: str) -> sqlite3.Connection:
    """A checkpoint's own connection: it waits for no lock (busy timeout 0)."""
    return sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False)


_copiers: weakref.WeakSet[_EarlyCopier] = weakref.WeakSet()


def _forked() -> None:
    for copier in list(_copiers):
        copier.forked()


os.register_at_fork(after_in_child=_forked)
