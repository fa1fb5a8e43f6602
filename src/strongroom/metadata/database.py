"""One SQL database shared by the stores built on it: its engine, the threads that run
units of work, and (on SQLite) the in-process queue of writers.

SQLAlchemy is blocking; each unit of work runs whole, in one transaction, in a worker
thread, so the event loop never waits on the database. One exception, on SQLite only: a
small unit of work (a lookup by key, one page of a list, a push's few rows) runs on the
event loop itself when it would not wait there (:meth:`Database.read`, ``write(small=True)``):
handing it to a thread and back cost more than the work (ADR 0023).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ParamSpec, TypeVar, cast

import anyio.to_thread
import sqlalchemy as sa

from strongroom.errors import StorageFull
from strongroom.metadata.engine import POOL_SIZE, loop_engine

P = ParamSpec("P")
T = TypeVar("T")

CHECKPOINT_EVERY = 100
"""Writes on the loop connection between two checkpoints, run in a thread (that connection
never checkpoints itself: a checkpoint writes and syncs the database file). A small write
adds a few pages to the WAL; SQLite's own default is a checkpoint per 1,000 pages."""


class Database:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.insert: Any = _insert_for(self.dialect)
        self._write_lock = anyio.Lock() if self.dialect == "sqlite" else None
        self._writers_file = _writers_file(engine) if self.dialect == "sqlite" else None
        self._writers_fd: int | None = None
        self._writers_fd_lock = threading.Lock()
        # One thread per pooled connection: more would only queue inside the pool while
        # contending for the GIL.
        self._threads = anyio.CapacityLimiter(POOL_SIZE)
        self._loop_engine = loop_engine(engine)
        self._loop_busy = threading.Lock()
        self._writes_on_loop = 0
        self._lent = threading.local()
        """``connection`` (and ``writing``): the loop connection, while this thread runs a
        unit of work on it."""

    @property
    def engines(self) -> tuple[sa.Engine, ...]:
        """Every engine this database opens: the pool's, and on SQLite the loop's."""
        return (self.engine,) if self._loop_engine is None else (self.engine, self._loop_engine)

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a unit of work that only reads."""
        try:
            return await anyio.to_thread.run_sync(lambda: work(*args, **kwargs), limiter=self._threads)
        except sa.exc.OperationalError as error:
            _raise_storage_full(error)
            raise

    async def read(self, work: Callable[[], T]) -> T:
        """Run a small unit of work that only reads: one whose rows are bounded (a lookup by
        key, one page of a list), never a scan of a table.

        On SQLite it runs at once, on the calling thread (the event loop), on the
        :func:`~strongroom.metadata.engine.loop_engine` connection: handing a read to a
        thread and back costs about 90 µs of CPU and as much latency under uvloop, more
        than a read by key. A read that finds the database locked (that connection's busy
        timeout is 0), or comes while another thread holds that connection, runs in a
        thread as :meth:`run` does. On PostgreSQL, always in a thread."""
        if self._loop_engine is not None:
            done, result = self._on_loop(work, writing=False)
            if done:
                return cast(T, result)
        return await self.run(work)

    async def write(self, work: Callable[[], T], *, small: bool = False) -> T:
        """Run a unit of work that writes. SQLite allows one writer at a time; queueing
        writers here, rather than in SQLite's busy handler (which sleeps up to 100 ms
        between tries), keeps the latency of concurrent pushes low.

        ``small``: a write of a few rows (a push's manifest, an upload's row, an audit
        record). On SQLite it runs on the event loop, as :meth:`read` does, when the write
        lock of every process is free at once; otherwise it queues in a thread as any write."""
        if self._write_lock is None:
            return await self.run(work)
        async with self._write_lock:
            if self._writers_file is None:
                return await self.run(work)
            if not small or self._loop_engine is None:
                return await self.run(self._between_processes, work)
            done, result = self._on_loop(work, writing=True)
            if not done:
                return await self.run(self._between_processes, work)
            self._writes_on_loop += 1
            if self._writes_on_loop % CHECKPOINT_EVERY:
                return cast(T, result)
        await self.run(self._checkpoint)
        return cast(T, result)

    def _on_loop(self, work: Callable[[], T], *, writing: bool) -> tuple[bool, T | None]:
        """Run ``work`` on the loop connection, on this thread, unless it would wait: for the
        connection (another thread holds it), for another process's writer (the ``flock``
        of :meth:`_between_processes`, tried without blocking), or for SQLite's lock (busy
        timeout 0). ``(False, None)``: it did not run, or ran and was rolled back."""
        assert self._loop_engine is not None
        if not self._loop_busy.acquire(blocking=False):
            return False, None
        locked_fd = None
        try:
            if writing:
                fd = self._writers_lock_fd()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False, None
                locked_fd = fd
            with self._loop_engine.connect() as connection:
                self._lent.connection, self._lent.writing = connection, writing
                try:
                    result = work()
                finally:
                    self._lent.connection = None
            # A result not read to its end would keep its statement, and so its snapshot,
            # open on the connection every later read shares.
            assert not isinstance(result, sa.Result), "a unit of work returns its rows, not a result"
            return True, result
        except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
            # sqlite3's own: from BEGIN, which the engine's "begin" hook sends to the driver
            _raise_storage_full(error)
            if not _locked(error):
                raise
            return False, None
        finally:
            if locked_fd is not None:
                fcntl.flock(locked_fd, fcntl.LOCK_UN)
            self._loop_busy.release()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file, PASSIVE: it never waits for a reader or a
        writer, and does what it can."""
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _between_processes(self, work: Callable[[], T]) -> T:
        """Queue for the write lock behind the writers of other processes (server workers,
        job runners) on an ``flock``, which wakes the next writer the moment the lock is
        free. Without it a writer that finds another process's transaction open sleeps
        in SQLite's busy handler, in steps growing to 100 ms: two server workers pushing
        at once waited there for most of their time. SQLite's own lock still decides;
        a process that does not take this lock only contends as before."""
        fd = self._writers_lock_fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            return work()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _writers_lock_fd(self) -> int:
        with self._writers_fd_lock:
            if self._writers_fd is None:
                assert self._writers_file is not None
                self._writers_fd = os.open(self._writers_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._writers_fd

    def reading(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction: on the loop connection inside :meth:`_on_loop`."""
        lent: sa.Connection | None = getattr(self._lent, "connection", None)
        if lent is not None:
            return _transaction_on(lent)
        return self.engine.begin()

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction (on SQLite, one that takes the write lock at BEGIN); on the
        loop connection inside a small write (:meth:`_on_loop`)."""
        lent: sa.Connection | None = getattr(self._lent, "connection", None)
        if lent is not None and self._lent.writing:
            with _write_transaction_on(lent):
                yield lent
            return
        with self.engine.connect() as conn:
            conn.execution_options(writing=True)
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()
        if self._loop_engine is not None:
            self._loop_engine.dispose()
        with self._writers_fd_lock:
            if self._writers_fd is not None:
                os.close(self._writers_fd)
                self._writers_fd = None


@contextmanager
def _transaction_on(connection: sa.Connection) -> Iterator[sa.Connection]:
    if connection.in_transaction():  # a read within a read: the same transaction
        yield connection
        return
    with connection.begin():
        yield connection


@contextmanager
def _write_transaction_on(connection: sa.Connection) -> Iterator[None]:
    if connection.in_transaction():  # a write within the same unit's read: upgraded
        yield
        return
    connection.execution_options(writing=True)  # BEGIN IMMEDIATE (metadata/engine.py)
    try:
        with connection.begin():
            yield
    finally:
        connection.execution_options(writing=False)


def _raise_storage_full(error: sa.exc.OperationalError | sqlite3.OperationalError) -> None:
    if "full" in str(getattr(error, "orig", error)):  # SQLite: "database or disk is full"
        raise StorageFull() from error


def _locked(error: sa.exc.OperationalError | sqlite3.OperationalError) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"), SQLITE_LOCKED ("database table is
    locked") or SQLITE_PROTOCOL ("locking protocol", after SQLite's own retries of a read
    that kept meeting a changing WAL): the unit of work would have had to wait."""
    return "lock" in str(getattr(error, "orig", error))


def _writers_file(engine: sa.Engine) -> str | None:
    """The lock file writers of a SQLite database file queue on: beside the database,
    as its ``-wal`` and ``-shm`` files are; none for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writers"


def _insert_for(dialect: str) -> Any:
    """The dialect's INSERT (with ON CONFLICT). Imported for the dialect in use only: the
    PostgreSQL dialect costs about 3 MB per process on SQLite deployments."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
