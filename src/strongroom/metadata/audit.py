"""The audit log on SQL: one table, ``audit_events``, appended to and never changed.

Appending reads the last row and inserts the next in one write transaction, under a
lock that every appender takes: SQLite's write lock (``BEGIN IMMEDIATE``, queued in
process by :meth:`Database.write`), or on PostgreSQL a transaction-level advisory lock,
so that appenders in several processes cannot both chain onto the same event. ``seq`` is
assigned here as last + 1 rather than by the database's sequence, which would skip the
numbers of rolled-back inserts: so a gap in ``seq`` can only mean a deleted row.

Appends that arrive while one is being written are written together, in the next
transaction (group commit): each caller still returns only once its own event is
committed, and the chain is the same as if they had been appended one by one. Under load
this takes one write transaction per batch off the database's single writer instead of
one per audited request.

On SQLite a record can instead ride in the transaction of the request's effect (the
manifest a push stores, the blob it links: :meth:`SqlAuditStore.carrying`), appended as
that transaction's last statements: one transaction and one trip to a worker thread per
push instead of two, and the push and its record commit together or not at all. Not on
PostgreSQL, where it would hold the chain's lock through every push's commit (ADR 0024).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import anyio
import sqlalchemy as sa

from strongroom.audit.chain import GENESIS, ChainRow, link
from strongroom.metadata.database import Database
from strongroom.metadata.schema import audit_events

APPEND_LOCK = 0x5354_524F_4E47_4155
"""The advisory lock key appenders take on PostgreSQL ("STRONGAU" in ASCII)."""

# Every audited request appends: its statements are built once (see metadata/sql.py).
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(APPEND_LOCK))
_LAST = sa.select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
_APPEND = audit_events.insert()

_COLUMNS = (
    audit_events.c.seq,
    audit_events.c.at,
    audit_events.c.record,
    audit_events.c.prev_hash,
    audit_events.c.hash,
)


@dataclass
class _Pending:
    at: datetime
    record: str
    done: anyio.Event = field(default_factory=anyio.Event)
    result: tuple[int, str] | None = None
    error: BaseException | None = None


class SqlAuditStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._pending: list[_Pending] = []
        self._writing = False

    async def append(self, at: datetime, record: str) -> tuple[int, str]:
        mine = _Pending(at, record)
        self._pending.append(mine)
        if not self._writing:
            # This caller writes every batch that gathers until none is left; shielded,
            # because the callers waiting on it must not be left waiting if it is cancelled.
            self._writing = True
            try:
                with anyio.CancelScope(shield=True):
                    while self._pending:
                        batch, self._pending = self._pending, []
                        await self._write(batch)
            finally:
                self._writing = False
        await mine.done.wait()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    @contextmanager
    def carrying(self, at: datetime, record: str) -> Iterator[Callable[[], tuple[int, str] | None]]:
        """While open, on SQLite, the next write of this task that is a request's effect
        (:meth:`Database.carrying`) appends ``record`` in its own transaction. Yields a
        function that tells the record's seq and hash once that transaction committed,
        None until then, and always on PostgreSQL (the caller then appends it with
        :meth:`append`)."""
        rider = _AuditRider(self._db.dialect, at, record)
        with self._db.carrying(rider):
            yield lambda: rider.appended

    async def _write(self, batch: list[_Pending]) -> None:
        def work() -> list[tuple[int, str]]:
            with self._db.writing() as conn:
                return _append(conn, self._db.dialect, [(pending.at, pending.record) for pending in batch])

        try:
            results = await self._db.write(work)
        except Exception as error:  # each caller gets it, as it would have alone
            for pending in batch:
                pending.error = error
                pending.done.set()
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
            pending.done.set()

    async def rows(
        self, after_seq: int = 0, limit: int = 500, contains: Sequence[str] = ()
    ) -> list[ChainRow]:
        query = (
            sa.select(*_COLUMNS)
            .where(
                audit_events.c.seq > after_seq,
                *(audit_events.c.record.contains(text, autoescape=True) for text in contains),
            )
            .order_by(audit_events.c.seq)
            .limit(limit)
        )

        def work() -> list[ChainRow]:
            with self._db.reading() as conn:
                return [ChainRow(*row) for row in conn.execute(query)]

        return await self._db.run(work)


def _append(
    conn: sa.Connection, dialect: str, records: Sequence[tuple[datetime, str]]
) -> list[tuple[int, str]]:
    """Chain ``records`` after the last event, in ``conn``'s write transaction; their
    seqs and hashes."""
    if dialect == "postgresql":
        # Released at commit or rollback; READ COMMITTED gives the next statement a
        # snapshot that includes the previous appender's row.
        conn.execute(_LOCK)
    last = conn.execute(_LAST).first()
    seq, prev_hash = (0, GENESIS) if last is None else (last.seq, last.hash)
    rows, appended = [], []
    for at, record in records:
        seq, digest = seq + 1, link(prev_hash, record)
        rows.append({"seq": seq, "at": at, "record": record, "prev_hash": prev_hash, "hash": digest})
        appended.append((seq, digest))
        prev_hash = digest
    conn.execute(_APPEND, rows if len(rows) > 1 else rows[0])  # one: no executemany
    return appended


class _AuditRider:
    """One audit record riding in a request's effect (:class:`~.database.Rider`)."""

    def __init__(self, dialect: str, at: datetime, record: str) -> None:
        self._dialect = dialect
        self._record = (at, record)
        self._written: tuple[int, str] | None = None
        self.appended: tuple[int, str] | None = None
        """Its seq and hash, once committed."""

    def write(self, conn: sa.Connection) -> None:
        if self.appended is None:
            self._written = _append(conn, self._dialect, [self._record])[0]

    def committed(self) -> None:
        if self.appended is None:
            self.appended = self._written
