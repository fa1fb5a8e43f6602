"""What lifecycle policies read and write on SQL: the facts of a repository's
manifests, the tags of one of them, and the claim that spreads periodic evaluation
over workers and hosts.

The policy text, its last evaluation time and the preview live on the repository
(:class:`strongroom.metadata.repositories.SqlRepositoryStore`); this store shares its
tables and its :class:`Database`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.schema import manifest_references, manifests, repositories, tags


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """One manifest of a repository, as a lifecycle policy may judge it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    last_pulled_at: datetime | None
    subject_digest: str | None
    listed_by_index: bool
    """Another manifest of the repository (an index) lists it as a child."""


class SqlLifecycleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def manifest_facts(self, repository_id: int) -> list[ManifestFacts]:
        """Every manifest of the repository, in digest order."""
        rows = sa.select(
            manifests.c.digest, manifests.c.created_at, manifests.c.last_pulled_at, manifests.c.subject_digest
        ).where(manifests.c.repository_id == repository_id)
        tag_rows = sa.select(tags.c.manifest_digest, tags.c.name).where(tags.c.repository_id == repository_id)
        children = sa.select(manifest_references.c.child_digest).where(
            manifest_references.c.repository_id == repository_id,
            manifest_references.c.kind == "manifest",
            manifest_references.c.child_digest != manifest_references.c.manifest_digest,
        )

        def work() -> list[ManifestFacts]:
            with self._db.reading() as conn:
                found = conn.execute(rows.order_by(manifests.c.digest)).all()
                by_digest: dict[str, list[str]] = {}
                for digest, name in conn.execute(tag_rows.order_by(tags.c.name)):
                    by_digest.setdefault(digest, []).append(name)
                listed = set(conn.scalars(children))
            return [
                ManifestFacts(
                    row.digest,
                    tuple(by_digest.get(row.digest, ())),
                    row.created_at,
                    row.last_pulled_at,
                    row.subject_digest,
                    row.digest in listed,
                )
                for row in found
            ]

        return await self._db.run(work)

    async def tags_of(self, repository_id: int, digest: str) -> tuple[str, ...] | None:
        """The manifest's tags in name order; None when the manifest is gone."""

        def work() -> tuple[str, ...] | None:
            with self._db.reading() as conn:
                exists = conn.scalar(
                    sa.select(manifests.c.digest).where(
                        manifests.c.repository_id == repository_id, manifests.c.digest == digest
                    )
                )
                if exists is None:
                    return None
                return tuple(
                    conn.scalars(
                        sa.select(tags.c.name)
                        .where(tags.c.repository_id == repository_id, tags.c.manifest_digest == digest)
                        .order_by(tags.c.name)
                    )
                )

        return await self._db.run(work)

    async def claim_evaluation(self, repository_id: int, now: datetime, *, unless_since: datetime) -> bool:
        """Mark the repository's policy evaluated at ``now`` unless it was at or after
        ``unless_since``; True when this caller won (a conditional UPDATE, so concurrent
        workers each claim a repository at most once per interval)."""
        statement = (
            repositories.update()
            .where(
                repositories.c.id == repository_id,
                repositories.c.lifecycle_policy.is_not(None),
                sa.or_(
                    repositories.c.lifecycle_evaluated_at.is_(None),
                    repositories.c.lifecycle_evaluated_at < unless_since,
                ),
            )
            .values(lifecycle_evaluated_at=now)
        )

        def work() -> bool:
            with self._db.writing() as conn:
                return conn.execute(statement).rowcount > 0

        return await self._db.write(work)

    async def mark_evaluated(self, repository_id: int, now: datetime) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    repositories.update()
                    .where(repositories.c.id == repository_id)
                    .values(lifecycle_evaluated_at=now)
                )

        await self._db.write(work)
