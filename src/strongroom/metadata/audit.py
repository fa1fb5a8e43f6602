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
"""

from __future__ import annotations

from collections.abc import Sequence
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

    async def _write(self, batch: list[_Pending]) -> None:
        def work() -> list[tuple[int, str]]:
            appended: list[tuple[int, str]] = []
            with self._db.writing() as conn:
                if self._db.dialect == "postgresql":
                    # Released at commit or rollback; READ COMMITTED gives the next
                    # statement a snapshot that includes the previous appender's row.
                    conn.execute(_LOCK)
                last = conn.execute(_LAST).first()
                seq, prev_hash = (0, GENESIS) if last is None else (last.seq, last.hash)
                rows = []
                for pending in batch:
                    seq, digest = seq + 1, link(prev_hash, pending.record)
                    rows.append(
                        {
                            "seq": seq,
                            "at": pending.at,
                            "record": pending.record,
                            "prev_hash": prev_hash,
                            "hash": digest,
                        }
                    )
                    appended.append((seq, digest))
                    prev_hash = digest
                conn.execute(_APPEND, rows if len(rows) > 1 else rows[0])  # one: no executemany
            return appended

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
