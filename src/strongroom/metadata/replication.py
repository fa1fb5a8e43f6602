"""Replication on SQL: where destinations live (with their secret, encrypted by the
caller) and each image's status at each destination.

An image's status at a destination::

    push (a rule matches) ──▶ IN_PROGRESS ──▶ COMPLETE
                                   │  ▲
                                   ▼  │ (pushed again, or the job retried)
                                 FAILED

IN_PROGRESS is written in the push's transaction (:func:`mark_in_progress`), so whoever
asks right after the push sees it; the end state is written with its event
(:meth:`SqlReplicationStore.finish`), in one transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.outbox import Outbox, write_outbox
from strongroom.metadata.schema import (
    replication_backfill_results,
    replication_backfills,
    replication_destinations,
    replication_statuses,
    repositories,
)

IN_PROGRESS = "IN_PROGRESS"
COMPLETE = "COMPLETE"
FAILED = "FAILED"
BACKFILL_IN_PROGRESS, BACKFILL_COMPLETE, BACKFILL_STOPPED = "IN_PROGRESS", "COMPLETE", "STOPPED"


@dataclass(frozen=True, slots=True)
class Destination:
    region: str
    registry_id: str
    url: str
    kind: str
    """``strongroom`` (another instance) or ``oci`` (any OCI registry)."""
    access_key_id: str
    encrypted_secret: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReplicationStatus:
    region: str
    registry_id: str
    status: str
    failure_code: str | None
    failure_reason: str | None
    updated_at: datetime


def mark_in_progress(
    conn: sa.Connection,
    insert: Any,
    repository_id: int,
    digest: str,
    destinations: Sequence[tuple[str, str]],
    now: datetime,
) -> None:
    """Replication of the image to ``destinations`` is queued (in the push's transaction)."""
    statement = _in_progress_statement(insert)
    for region, registry_id in destinations:
        conn.execute(
            statement,
            {
                "repository_id": repository_id,
                "image_digest": digest,
                "region": region,
                "registry_id": registry_id,
                "now": now,
            },
        )


def record_result(
    conn: sa.Connection, backfill_id: str, image: tuple[str, str, str | None],
    outcome: tuple[str, str | None], now: datetime,
) -> None:  # fmt: skip
    """Add an image's result to its backfill (in the transaction recording the image's
    status); the last result completes it. A result already there is kept (a job retried)."""
    repository, digest, tag = image
    key = {
        "backfill_id": backfill_id,
        "repository": repository,
        "image_digest": digest,
        "image_tag": tag or "",
    }
    if conn.scalar(sa.select(sa.literal(1)).select_from(replication_backfill_results).filter_by(**key)):
        return
    status, code = outcome
    conn.execute(replication_backfill_results.insert().values(**key, status=status, failure_code=code))
    done = sa.select(sa.func.count()).where(replication_backfill_results.c.backfill_id == backfill_id)
    conn.execute(
        replication_backfills.update()
        .where(
            replication_backfills.c.id == backfill_id,
            replication_backfills.c.status == BACKFILL_IN_PROGRESS,
            replication_backfills.c.total <= done.scalar_subquery(),
        )
        .values(status=BACKFILL_COMPLETE, ended_at=now)
    )


@functools.cache
def _in_progress_statement(insert: Any) -> Any:
    """The IN_PROGRESS upsert for a dialect's ``insert``, built once (ADR 0012)."""
    now: Any = sa.bindparam("now")
    statement = insert(replication_statuses).values(
        repository_id=sa.bindparam("repository_id"),
        image_digest=sa.bindparam("image_digest"),
        region=sa.bindparam("region"),
        registry_id=sa.bindparam("registry_id"),
        status=IN_PROGRESS,
        failure_code=None,
        failure_reason=None,
        updated_at=now,
    )
    return statement.on_conflict_do_update(
        index_elements=[
            replication_statuses.c.repository_id,
            replication_statuses.c.image_digest,
            replication_statuses.c.region,
            replication_statuses.c.registry_id,
        ],
        set_={"status": IN_PROGRESS, "failure_code": None, "failure_reason": None, "updated_at": now},
    )


def _repository_id(conn: sa.Connection, account_id: str, name: str) -> int | None:
    found: int | None = conn.scalar(
        sa.select(repositories.c.id).where(
            repositories.c.account_id == account_id, repositories.c.name == name
        )
    )
    return found


class SqlReplicationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def put_destination(self, destination: Destination) -> None:
        """Register a destination, replacing one of the same region and registry id."""

        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    replication_destinations.delete().where(
                        replication_destinations.c.region == destination.region,
                        replication_destinations.c.registry_id == destination.registry_id,
                    )
                )
                conn.execute(
                    replication_destinations.insert().values(
                        region=destination.region,
                        registry_id=destination.registry_id,
                        url=destination.url,
                        kind=destination.kind,
                        access_key_id=destination.access_key_id,
                        secret=destination.encrypted_secret,
                        created_at=destination.created_at,
                    )
                )

        await self._db.write(work)

    async def remove_destination(self, region: str, registry_id: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                removed = conn.execute(
                    replication_destinations.delete().where(
                        replication_destinations.c.region == region,
                        replication_destinations.c.registry_id == registry_id,
                    )
                )
                return bool(removed.rowcount)

        return await self._db.write(work)

    async def destinations(self) -> list[Destination]:
        def work() -> list[Destination]:
            with self._db.reading() as conn:
                rows = conn.execute(
                    sa.select(replication_destinations).order_by(
                        replication_destinations.c.region, replication_destinations.c.registry_id
                    )
                )
                return [_destination(row) for row in rows]

        return await self._db.run(work)

    async def destination(self, region: str, registry_id: str) -> Destination | None:
        def work() -> Destination | None:
            with self._db.reading() as conn:
                row = conn.execute(
                    sa.select(replication_destinations).where(
                        replication_destinations.c.region == region,
                        replication_destinations.c.registry_id == registry_id,
                    )
                ).first()
                return None if row is None else _destination(row)

        return await self._db.run(work)

    async def statuses(self, account_id: str, name: str, digest: str) -> list[ReplicationStatus]:
        """The image's status at each destination it was queued to, by region and registry."""

        def work() -> list[ReplicationStatus]:
            with self._db.reading() as conn:
                rows = conn.execute(
                    sa.select(replication_statuses)
                    .join(repositories, repositories.c.id == replication_statuses.c.repository_id)
                    .where(
                        repositories.c.account_id == account_id,
                        repositories.c.name == name,
                        replication_statuses.c.image_digest == digest,
                    )
                    .order_by(replication_statuses.c.region, replication_statuses.c.registry_id)
                )
                return [
                    ReplicationStatus(
                        row.region, row.registry_id, row.status, row.failure_code, row.failure_reason,
                        row.updated_at,
                    )
                    for row in rows
                ]  # fmt: skip

        return await self._db.run(work)

    async def announce(self, outbox: Outbox, now: datetime) -> None:
        """Write a replicated deletion's event (and its dispatch job): a deletion has no
        status to record, its image being gone at the source."""

        def work() -> None:
            with self._db.writing() as conn:
                write_outbox(conn, self._db.insert, outbox, now)

        await self._db.write(work)

    async def finish(
        self,
        account_id: str,
        name: str,
        digest: str,
        destination: tuple[str, str],
        outcome: tuple[str, str | None, str | None],
        outbox: Outbox,
        now: datetime,
        backfill: tuple[str, str | None] | None = None,
    ) -> None:
        """Record the end of a replication (status, failure code and reason) with the
        events and jobs it causes, in one transaction; nothing if the repository is gone.
        ``backfill``: the backfill that queued it and the tag it queued, whose result this is."""
        region, registry_id = destination
        status, code, reason = outcome

        def work() -> None:
            with self._db.writing() as conn:
                repository_id = _repository_id(conn, account_id, name)
                if repository_id is None:
                    return
                key = {
                    "repository_id": repository_id,
                    "image_digest": digest,
                    "region": region,
                    "registry_id": registry_id,
                }
                conn.execute(replication_statuses.delete().filter_by(**key))
                conn.execute(
                    replication_statuses.insert().values(
                        **key, status=status, failure_code=code, failure_reason=reason, updated_at=now
                    )
                )
                write_outbox(conn, self._db.insert, outbox, now)
                if backfill is not None:
                    record_result(conn, backfill[0], (name, digest, backfill[1]), (status, code), now)

        await self._db.write(work)


def _destination(row: Any) -> Destination:
    return Destination(
        row.region, row.registry_id, row.url, row.kind, row.access_key_id, row.secret, row.created_at
    )
