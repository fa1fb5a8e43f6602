"""The event log on SQL (SQLite or PostgreSQL): what happened, as the event catalogue
(strongroom.events.catalogue) names it. Events are written with the change that causes
them (:mod:`.outbox`) and forgotten after a while (``SqlJobStore.purge``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.outbox import NewEvent, NewJob, Outbox, write_outbox
from strongroom.metadata.schema import events


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    account_id: str
    subject: str | None
    data: dict[str, Any]
    at: datetime


class SqlEventStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, event: NewEvent, new_jobs: Sequence[NewJob], now: datetime) -> list[int | None]:
        """Store an event and the jobs it causes, in one transaction."""

        def work() -> list[int | None]:
            with self._db.writing() as conn:
                return write_outbox(conn, self._db.insert, Outbox([event], new_jobs), now)

        return await self._db.write(work)

    async def get(self, event_id: str) -> Event | None:
        def work() -> Event | None:
            with self._db.reading() as conn:
                row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
                return None if row is None else _event(row)

        return await self._db.run(work)

    async def find(
        self, *, since: datetime | None = None, type: str | None = None, account_id: str | None = None,
        after: tuple[datetime, str] | None = None, limit: int = 100,
    ) -> list[Event]:  # fmt: skip
        """Oldest first; ``after`` is the (time, id) of the last event of the previous page."""
        query = sa.select(events)
        if after is not None:
            at, event_id = after
            query = query.where(sa.or_(events.c.at > at, sa.and_(events.c.at == at, events.c.id > event_id)))
        if since is not None:
            query = query.where(events.c.at >= since)
        if type is not None:
            query = query.where(events.c.type == type)
        if account_id is not None:
            query = query.where(events.c.account_id == account_id)

        def work() -> list[Event]:
            with self._db.reading() as conn:
                rows = conn.execute(query.order_by(events.c.at, events.c.id).limit(limit))
                return [_event(row) for row in rows]

        return await self._db.run(work)


def _event(row: sa.Row[Any]) -> Event:
    return Event(row.id, row.type, row.account_id, row.subject, json.loads(row.data), row.at)
