"""One SQL database shared by the stores built on it: its engine, the threads that run
units of work, and (on SQLite) the in-process queue of writers.

SQLAlchemy is blocking; each unit of work runs whole, in one transaction, in a worker
thread, so the event loop never waits on the database. Three exceptions, on SQLite only:
a small read (a lookup by key, one page of a list) runs on the event loop itself
(:meth:`Database.read`), where handing it to a thread and back cost more than the read;
so does a small write (a push's manifest) when the write lock is free at once
(``write(small=True)``); and the job process, which answers no requests, runs its writes
on its loop too (``writes_on_loop``; docs/adr/0023).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import anyio.lowlevel
import anyio.to_thread
import sqlalchemy as sa

from strongroom.errors import StorageFull
from strongroom.metadata.engine import POOL_SIZE, loop_reader, sqlite_file
from strongroom.metadata.flock import FlockClaim
from strongroom.metadata.wal import WalCheckpoints

P = ParamSpec("P")
T = TypeVar("T")


class _WouldWait(Exception):
    """A small write on the loop found SQLite locked before it wrote: it runs in a thread."""


@dataclass(slots=True)
class _SmallWrite:
    """A small write on the loop's connection: whether its transaction began, and whether
    SQLite said it would have to wait (kept, in case the work caught the exception)."""

    began: bool = False
    would_wait: bool = False


class Rider(Protocol):
    """What commits in the transaction of a request's effect (its audit record): see
    :meth:`Database.carrying`."""

    def write(self, conn: sa.Connection) -> None:
        """Write, in the effect's transaction, as its last statements (not again once
        committed: a request with two effects records once)."""
        ...

    def committed(self) -> None:
        """That transaction committed."""
        ...


_riding: ContextVar[Rider | None] = ContextVar("strongroom_rider", default=None)


class Database:
    def __init__(self, engine: sa.Engine, *, writes_on_loop: bool = False) -> None:
        """``writes_on_loop``: on SQLite, run each write on the calling thread (the event
        loop) rather than in a worker thread, waiting there for the write lock: for a
        process that answers no requests (the job process), where the hop to a thread and
        back cost more CPU than the write. Ignored on PostgreSQL."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self.insert: Any = _insert_for(self.dialect)
        self._write_lock = anyio.Lock() if self.dialect == "sqlite" else None
        self._writes_on_loop = writes_on_loop and self._write_lock is not None
        self._writers_file = _writers_file(engine)
        self._writers_fd: int | None = None
        self._writers_fd_lock = threading.Lock()
        # One thread per pooled connection: more would only queue inside the pool while
        # contending for the GIL.
        self._threads = anyio.CapacityLimiter(POOL_SIZE)
        self._loop_reader = loop_reader(engine)
        self._loop_reader_busy = threading.Lock()
        self._loop_connection: sa.Connection | None = None
        """The loop reader's connection, kept open between units of work that succeed
        (guarded by ``_loop_reader_busy``): checked out of its pool and back for each, it
        cost about 25 µs of CPU a unit, 5 % of a manifest GET's."""
        self._lent = threading.local()
        """``connection``: the loop reader's connection, while this thread runs a read or a
        small write on it; ``small_write``: that small write's :class:`_SmallWrite`."""
        self._checkpoints = None if self._writers_file is None else WalCheckpoints(engine)
        self._flock_waiter = anyio.CapacityLimiter(1)

    @property
    def engines(self) -> tuple[sa.Engine, ...]:
        """Every engine this database opens: the pool's, and on SQLite the loop reader's."""
        return (self.engine,) if self._loop_reader is None else (self.engine, self._loop_reader)

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
        :func:`~strongroom.metadata.engine.loop_reader` connection: handing a read to a
        thread and back costs about 90 µs of CPU and as much latency under uvloop, more
        than a read by key. A read that finds the database locked (its busy timeout is 0),
        or comes while another thread holds that connection, runs in a thread as
        :meth:`run` does. On PostgreSQL, always in a thread."""
        if self._loop_reader is None or not self._loop_reader_busy.acquire(blocking=False):
            return await self.run(work)
        try:
            with self._lending():
                result = work()
            # A result not read to its end would keep its statement, and so its snapshot,
            # open on the connection every later read shares.
            assert not isinstance(result, sa.Result), "a unit of work returns its rows, not a result"
            return result
        except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
            # sqlite3's own: from BEGIN, which the engine's "begin" hook sends to the driver
            _raise_storage_full(error)
            if not _locked(error):
                raise
        finally:
            self._loop_reader_busy.release()
        return await self.run(work)

    async def write(self, work: Callable[[], T], *, small: bool = False) -> T:
        """Run a unit of work that writes. SQLite allows one writer at a time; queueing
        writers here, rather than in SQLite's busy handler (which sleeps up to 100 ms
        between tries), keeps the latency of concurrent pushes low.

        ``small``: one write transaction of bounded size (a push's manifest, its tags and
        events). On SQLite it runs on the calling thread (the event loop), on the loop
        reader's connection, as a small read does, once it holds the writers' lock: taken
        at once if free, else waited for in a thread. Nothing on the loop waits: the
        ``flock`` is only tried there, and ``BEGIN IMMEDIATE`` meets a busy timeout of 0
        (a program that does not take the writers' lock holding SQLite's sends the work
        to a thread). Its commit never checkpoints (the connection's automatic checkpoint
        is off); the small write that finds the WAL due (:class:`WalCheckpoints`)
        checkpoints it in a thread before it lets go of the locks."""
        if self._write_lock is None:
            return await self.run(work)
        try:
            return await self._write_sqlite(work, small=small)
        finally:
            if self._checkpoints is not None:
                self._checkpoints.wrote()  # the locks let go of: may start an early copy

    async def _write_sqlite(self, work: Callable[[], T], *, small: bool) -> T:
        assert self._write_lock is not None
        if small and self._loop_reader is not None and not self._writes_on_loop:
            return await self._small_write(work)
        async with self._write_lock:
            if self._writes_on_loop:
                # A pooled connection is free once a token is: taken here, awaiting, so
                # the loop never blocks in the pool's checkout holding the writers' flock
                # while threads hold every connection.
                async with self._threads:
                    return self._on_loop(work)
            if self._writers_file is None:
                return await self.run(work)
            return await self.run(self._between_processes, work)

    async def _small_write(self, work: Callable[[], T]) -> T:
        """Under the writers' lock, taken at once or else waited for in a thread; the
        work then runs on this thread, on the loop's connection (:meth:`_on_loop_connection`),
        or in a thread when SQLite itself is locked by a program that does not take that
        lock. Run where it waited, a write woken with the lock then waited in its own
        process for the interpreter lock the event loop held: at 32 concurrent pushes, two
        workers did 10 % fewer manifest PUTs a second that way. A checkpoint that is due
        runs in a thread under both locks, so that no writer appends to the WAL meanwhile
        and it can be reset (run after them, concurrent pushes kept it from ever being
        reset: 134 MiB of WAL for 75 MiB written). Under the writers' lock nothing waits
        for a pooled thread or connection: a write SQLite sends to a thread lets go of it
        first."""
        assert self._write_lock is not None
        assert self._checkpoints is not None  # a SQLite file, as the loop's connection says
        async with self._write_lock:
            claim = FlockClaim(self._writers_lock_fd())
            try:
                if not claim.try_take():
                    # one waiter a process (behind the in-process lock), on a thread of
                    # its own: it needs no pooled connection, which slow reads may hold
                    await anyio.to_thread.run_sync(claim.take, limiter=self._flock_waiter)
                    await anyio.lowlevel.checkpoint_if_cancelled()  # the request went meanwhile
                try:
                    if self._checkpoints.wal_large:
                        # Its commit may cut the WAL file back (about 1 ms a MiB): not on
                        # the loop, nor in a pooled thread, which slow reads may hold.
                        result = await anyio.to_thread.run_sync(
                            self._on_loop_connection, work, limiter=self._flock_waiter
                        )
                    else:
                        result = self._on_loop_connection(work)
                except _WouldWait:
                    in_thread = True  # nothing written: the lock is let go of first
                else:
                    in_thread = False
                    if self._checkpoints.due():
                        await self._checkpoints.checkpoint()
            finally:
                claim.give_back()
            if in_thread:
                # as any write: a pooled thread first, then the writers' lock in it
                return await self.run(self._between_processes, work)
        return result

    def _on_loop_connection(self, work: Callable[[], T]) -> T:
        """The small write on this thread, or :class:`_WouldWait` before anything of it
        was written: another thread (with an event loop of its own) holds the loop's
        connection, or SQLite was locked before the write's transaction began (its
        ``BEGIN IMMEDIATE``, the connection's first opening, a read before it), also when
        the work caught the exception that said so."""
        assert self._loop_reader is not None
        if not self._loop_reader_busy.acquire(blocking=False):
            raise _WouldWait
        small = _SmallWrite()
        try:
            with self._lending(small):
                result = work()
        except _WouldWait:
            raise
        except Exception as error:
            if small.would_wait:  # the work wrapped the exception that said so
                raise _WouldWait from error
            if isinstance(error, sa.exc.OperationalError | sqlite3.OperationalError):
                if _locked(error) and not small.began:
                    raise _WouldWait from error
                _raise_storage_full(error)
            raise
        finally:
            self._loop_reader_busy.release()
        if small.would_wait:
            raise _WouldWait
        return result

    def _on_loop(self, work: Callable[[], T]) -> T:
        """A write on this thread. A job process's writes are small and hold the one
        write lock while they run, as every write does; what the loop waits for here is
        that lock, behind a request's write (milliseconds), during which the process's
        other jobs wait too."""
        try:
            return work() if self._writers_file is None else self._between_processes(work)
        except sa.exc.OperationalError as error:
            _raise_storage_full(error)
            raise

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
        """A read transaction: on the loop reader's connection inside :meth:`read`."""
        lent: sa.Connection | None = getattr(self._lent, "connection", None)
        if lent is not None:
            return _transaction_on(lent)
        return self.engine.begin()

    @contextmanager
    def writing(self, *, effect: bool = False) -> Iterator[sa.Connection]:
        """A write transaction (on SQLite, one that takes the write lock at BEGIN).
        ``effect``: the write a request exists to make (a manifest stored, a blob
        linked); on SQLite, what rides with the request (:meth:`carrying`) commits in it."""
        rider = _riding.get() if effect and self._write_lock is not None else None
        small = getattr(self._lent, "small_write", None) is not None
        with self._lent_transaction() if small else self._pooled_transaction() as conn:
            yield conn
            if rider is not None:
                rider.write(conn)
        if rider is not None:
            rider.committed()

    @contextmanager
    def _pooled_transaction(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(writing=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _lending(self, small: _SmallWrite | None = None) -> Iterator[None]:
        """Lend the loop reader's connection to this thread's work (:meth:`reading` and
        :meth:`writing` use it): for a small read, or with ``small`` a small write. The
        caller holds ``_loop_reader_busy``. The connection stays open for the next unit
        of work when this one ends with no transaction left open; after an exception it
        is closed, as the pool's own check-in would have it (rolled back, and with it any
        state a failed ``BEGIN`` left in SQLAlchemy's connection), and opened anew."""
        assert self._loop_reader is not None
        connection = self._loop_connection  # None after a failure or close(): they close it
        if connection is None:
            connection = self._loop_connection = self._loop_reader.connect()
        self._lent.connection, self._lent.small_write = connection, small
        kept = False
        try:
            yield
            # SQLite's own word too: a COMMIT that failed (a deferred constraint) ends
            # SQLAlchemy's transaction but may leave SQLite's open, holding the write lock.
            # A write whose BEGIN found SQLite locked may have caught the exception itself.
            kept = (
                not (connection.closed or connection.invalidated or connection.in_transaction())
                and not connection.connection.driver_connection.in_transaction  # type: ignore[union-attr]
                and not (small is not None and small.would_wait)
            )
        finally:
            self._lent.connection, self._lent.small_write = None, None
            if not kept:
                self._loop_connection = None
                connection.close()

    @contextmanager
    def _lent_transaction(self) -> Iterator[sa.Connection]:
        """A small write's one transaction, on the loop's connection; :class:`_WouldWait`
        if ``BEGIN IMMEDIATE`` finds SQLite's write lock taken (busy timeout 0)."""
        small: _SmallWrite = self._lent.small_write
        if small.began or small.would_wait:
            raise RuntimeError("a small write is one write transaction")
        connection: sa.Connection = self._lent.connection
        connection.execution_options(writing=True)  # read by the "begin" hook (engine.py)
        try:
            transaction = connection.begin()
        except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
            if _locked(error):
                small.would_wait = True
                raise _WouldWait from error
            raise
        finally:
            # the connection outlives this write (:meth:`_lending`): its next read is a read
            connection.execution_options(writing=False)
        small.began = True
        with transaction:
            yield connection

    @staticmethod
    @contextmanager
    def carrying(rider: Rider) -> Iterator[None]:
        """While open, on SQLite, a write marked as an effect (``writing(effect=True)``)
        by this task, or a thread it hands work to (which runs in a copy of its context),
        writes ``rider`` in its own transaction: one transaction, and one trip to a
        thread, instead of two, and the effect and its record commit together or not at
        all. SQLite has one writer at a time: the rider's statements lengthen a
        transaction that excluded every other writer anyway. On PostgreSQL, whose writers
        run at once, a rider taking a lock every writer needs (the audit chain's) would
        serialize them through their commits: it rides nowhere, and the caller writes it
        after (ADR 0024)."""
        token = _riding.set(rider)
        try:
            yield
        finally:
            _riding.reset(token)

    def close(self) -> None:
        with self._loop_reader_busy:
            if self._loop_connection is not None:
                self._loop_connection.close()
                self._loop_connection = None
        if self._checkpoints is not None:  # first: the last connection open checkpoints as it closes
            self._checkpoints.close()
        self.engine.dispose()
        if self._loop_reader is not None:
            self._loop_reader.dispose()
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


def _raise_storage_full(error: sa.exc.OperationalError | sqlite3.OperationalError) -> None:
    if "full" in str(getattr(error, "orig", error)):  # SQLite: "database or disk is full"
        raise StorageFull() from error


def _locked(error: sa.exc.OperationalError | sqlite3.OperationalError) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"), SQLITE_LOCKED ("database table is
    locked") or SQLITE_PROTOCOL ("locking protocol", after SQLite's own retries of a read
    that kept meeting a changing WAL): the read would have had to wait."""
    return "lock" in str(getattr(error, "orig", error))


def _writers_file(engine: sa.Engine) -> str | None:
    """The lock file writers of a SQLite database file queue on: beside the database,
    as its ``-wal`` and ``-shm`` files are; none for an in-memory database."""
    database = sqlite_file(engine.url)
    return None if database is None else f"{database}-writers"


def _insert_for(dialect: str) -> Any:
    """The dialect's INSERT (with ON CONFLICT). Imported for the dialect in use only: the
    PostgreSQL dialect costs about 3 MB per process on SQLite deployments."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
