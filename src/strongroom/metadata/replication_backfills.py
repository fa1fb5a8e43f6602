"""Replication backfills on SQL (ECR ``StartReplicationBackfill`` and its kin): a backfill
queues a ``replication.image`` job per existing image in one transaction with its row and
the images' IN_PROGRESS status; each job's end adds a result row in the transaction that
records the image's status (:func:`record_result`), and the last one completes the
backfill. Progress is counted from the results, never kept apart from them.

A backfill's status::

    IN_PROGRESS ──▶ COMPLETE   (every image has a result)
         │
         └──────▶ STOPPED      (StopReplicationBackfill; jobs not yet run copy nothing)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.errors import Conflict
from strongroom.metadata.database import Database
from strongroom.metadata.outbox import Outbox, write_outbox
from strongroom.metadata.replication import (
    BACKFILL_IN_PROGRESS,
    BACKFILL_STOPPED,
    mark_in_progress,
)
from strongroom.metadata.schema import (
    manifest_references,
    manifests,
    replication_backfill_results,
    replication_backfills,
    repositories,
    tags,
)


class BackfillInProgress(Conflict):
    """A backfill to the same destination has not ended (ECR's
    ``ReplicationBackfillInProgressException``)."""

    ecr_type = "ReplicationBackfillInProgressException"


@dataclass(frozen=True, slots=True)
class Backfill:
    id: str
    account_id: str
    region: str
    registry_id: str
    status: str
    total: int
    started_at: datetime
    ended_at: datetime | None
    completed: int = 0
    failed: int = 0
    failure_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BackfillResult:
    repository: str
    digest: str
    tag: str | None
    status: str
    failure_code: str | None


@dataclass(frozen=True, slots=True)
class ExistingImage:
    repository_id: int
    repository: str
    digest: str
    tag: str | None


class SqlBackfillStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def existing_images(self, account_id: str) -> list[ExistingImage]:
        """Every image of the account's repositories: each tag, and each untagged manifest
        that no other manifest of its repository lists (an index's children go with it);
        not a manifest a replication stored (replicated content is not replicated onward)."""
        child = sa.exists().where(
            manifest_references.c.repository_id == manifests.c.repository_id,
            manifest_references.c.child_digest == manifests.c.digest,
            manifest_references.c.kind == "manifest",
        )
        query = (
            sa.select(repositories.c.id, repositories.c.name, manifests.c.digest, tags.c.name.label("tag"))
            .select_from(
                repositories.join(manifests, manifests.c.repository_id == repositories.c.id).outerjoin(
                    tags,
                    sa.and_(
                        tags.c.repository_id == manifests.c.repository_id,
                        tags.c.manifest_digest == manifests.c.digest,
                    ),
                )
            )
            .where(
                repositories.c.account_id == account_id,
                ~manifests.c.replicated,
                sa.or_(tags.c.name.is_not(None), ~child),
            )
            .order_by(repositories.c.name, manifests.c.digest, tags.c.name)
        )

        def work() -> list[ExistingImage]:
            with self._db.reading() as conn:
                return [ExistingImage(row.id, row.name, row.digest, row.tag) for row in conn.execute(query)]

        return await self._db.run(work)

    async def start(self, backfill: Backfill, images: Sequence[ExistingImage], outbox: Outbox) -> None:
        """Record the backfill, its images' IN_PROGRESS status and its jobs, in one
        transaction; :class:`BackfillInProgress` while one to the destination has not ended."""

        def work() -> None:
            with self._db.writing() as conn:
                running = conn.scalar(
                    sa.select(replication_backfills.c.id).where(
                        replication_backfills.c.account_id == backfill.account_id,
                        replication_backfills.c.region == backfill.region,
                        replication_backfills.c.registry_id == backfill.registry_id,
                        replication_backfills.c.status == BACKFILL_IN_PROGRESS,
                    )
                )
                if running is not None:
                    raise BackfillInProgress(
                        f"The replication backfill '{running}' to region {backfill.region} and registry "
                        f"{backfill.registry_id} is still in progress"
                    )
                conn.execute(
                    replication_backfills.insert().values(
                        id=backfill.id, account_id=backfill.account_id, region=backfill.region,
                        registry_id=backfill.registry_id, status=backfill.status, total=backfill.total,
                        started_at=backfill.started_at, ended_at=backfill.ended_at,
                    )
                )  # fmt: skip
                target = [(backfill.region, backfill.registry_id)]
                for image in {(i.repository_id, i.digest) for i in images}:
                    mark_in_progress(conn, self._db.insert, image[0], image[1], target, backfill.started_at)
                write_outbox(conn, self._db.insert, outbox, backfill.started_at)

        await self._db.write(work)

    async def backfills(self, account_id: str, backfill_id: str | None = None) -> list[Backfill]:
        """The account's backfills, newest first (or the one named), with their progress."""
        where = [replication_backfills.c.account_id == account_id]
        if backfill_id is not None:
            where.append(replication_backfills.c.id == backfill_id)
        results = replication_backfill_results

        def work() -> list[Backfill]:
            with self._db.reading() as conn:
                rows = conn.execute(
                    sa.select(replication_backfills)
                    .where(*where)
                    .order_by(replication_backfills.c.started_at.desc(), replication_backfills.c.id)
                ).all()
                found = []
                for row in rows:
                    counted: dict[str, int] = dict(
                        conn.execute(
                            sa.select(results.c.status, sa.func.count())
                            .where(results.c.backfill_id == row.id)
                            .group_by(results.c.status)
                        ).all()
                    )
                    codes = conn.scalars(
                        sa.select(results.c.failure_code)
                        .where(results.c.backfill_id == row.id, results.c.failure_code.is_not(None))
                        .distinct()
                        .order_by(results.c.failure_code)
                    ).all()
                    found.append(_backfill(row, counted, tuple(str(code) for code in codes)))
                return found

        return await self._db.run(work)

    async def results(self, backfill_id: str, status: str | None) -> list[BackfillResult]:
        query = sa.select(replication_backfill_results).where(
            replication_backfill_results.c.backfill_id == backfill_id
        )
        if status is not None:
            query = query.where(replication_backfill_results.c.status == status)
        query = query.order_by(
            replication_backfill_results.c.repository,
            replication_backfill_results.c.image_digest,
            replication_backfill_results.c.image_tag,
        )

        def work() -> list[BackfillResult]:
            with self._db.reading() as conn:
                return [
                    BackfillResult(
                        r.repository, r.image_digest, r.image_tag or None, r.status, r.failure_code
                    )
                    for r in conn.execute(query)
                ]

        return await self._db.run(work)

    async def stop(self, account_id: str, backfill_id: str, now: datetime) -> bool:
        """Stop an IN_PROGRESS backfill; False when it is not (ended, or not there)."""

        def work() -> bool:
            with self._db.writing() as conn:
                changed = conn.execute(
                    replication_backfills.update()
                    .where(
                        replication_backfills.c.account_id == account_id,
                        replication_backfills.c.id == backfill_id,
                        replication_backfills.c.status == BACKFILL_IN_PROGRESS,
                    )
                    .values(status=BACKFILL_STOPPED, ended_at=now)
                )
                return bool(changed.rowcount)

        return await self._db.write(work)

    async def stopped(self, backfill_id: str) -> bool:
        def work() -> bool:
            with self._db.reading() as conn:
                status = conn.scalar(
                    sa.select(replication_backfills.c.status).where(replication_backfills.c.id == backfill_id)
                )
                return status in (None, BACKFILL_STOPPED)

        return await self._db.run(work)


def _backfill(row: Any, counted: dict[str, int], codes: tuple[str, ...]) -> Backfill:
    return Backfill(
        row.id, row.account_id, row.region, row.registry_id, row.status, row.total, row.started_at,
        row.ended_at, counted.get("COMPLETE", 0), counted.get("FAILED", 0), codes,
    )  # fmt: skip
