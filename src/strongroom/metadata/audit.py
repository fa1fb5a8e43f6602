"""The audit log on SQL: one table, ``audit_events``, appended to and never changed.

Appending reads the last row and inserts the next in one write transaction, under a
lock that every appender takes: SQLite's write lock (``BEGIN IMMEDIATE``, queued in
process by :meth:`Database.write`), or on PostgreSQL a transaction-level advisory lock,
so that appenders in several processes cannot both chain onto the same event. ``seq`` is
assigned here as last + 1 rather than by the database's sequence, which would skip the
numbers of rolled-back inserts: so a gap in ``seq`` can only mean a deleted row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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


class SqlAuditStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def append(self, at: datetime, record: str) -> tuple[int, str]:
        def work() -> tuple[int, str]:
            with self._db.writing() as conn:
                if self._db.dialect == "postgresql":
                    # Released at commit or rollback; READ COMMITTED gives the next
                    # statement a snapshot that includes the previous appender's row.
                    conn.execute(_LOCK)
                last = conn.execute(_LAST).first()
                seq, prev_hash = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
                digest = link(prev_hash, record)
                conn.execute(
                    _APPEND, {"seq": seq, "at": at, "record": record, "prev_hash": prev_hash, "hash": digest}
                )
            return seq, digest

        return await self._db.write(work)

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
