"""What garbage collection reads and removes on SQL: blob links no manifest needs,
and which blobs any repository links at all.

Unlinking re-checks every condition in the deleting statement itself, inside a
transaction that excludes manifest pushes to the repository (on PostgreSQL the
repository row ``FOR UPDATE`` against ``put_manifest``'s ``FOR KEY SHARE``; on
SQLite the one writer at a time), so a push never stores a manifest whose blob
was unlinked after it checked. The reasoning is in :mod:`strongroom.registry.gc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.schema import manifest_references, repositories, repository_blobs, uploads

BATCH = 500
"""Digests per statement: well under SQLite's limit on bound parameters."""


@dataclass(frozen=True, slots=True)
class UnreferencedLink:
    repository_id: int
    digest: str
    size: int


class SqlGcStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def unreferenced_links(self, linked_before: datetime) -> list[UnreferencedLink]:
        """Links older than ``linked_before`` that no manifest of their repository
        references, in repositories with no upload open."""
        links = repository_blobs.c
        query = (
            sa.select(links.repository_id, links.digest, links.size)
            .where(_unreferenced(linked_before))
            .order_by(links.repository_id, links.digest)
        )

        def work() -> list[UnreferencedLink]:
            with self._db.reading() as conn:
                return [UnreferencedLink(*row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def unlink_unreferenced(
        self, repository_id: int, digests: Sequence[str], linked_before: datetime
    ) -> list[UnreferencedLink]:
        """Remove those of ``digests`` that are still unreferenced links of the
        repository, older than ``linked_before``; returns what was removed."""
        links = repository_blobs.c

        def work() -> list[UnreferencedLink]:
            removed: list[UnreferencedLink] = []
            with self._db.writing() as conn:
                conn.execute(
                    sa.select(repositories.c.id).where(repositories.c.id == repository_id).with_for_update()
                )
                for start in range(0, len(digests), BATCH):
                    statement = (
                        repository_blobs.delete()
                        .where(
                            links.repository_id == repository_id,
                            links.digest.in_(list(digests[start : start + BATCH])),
                            _unreferenced(linked_before),
                        )
                        .returning(links.digest, links.size)
                    )
                    removed += [
                        UnreferencedLink(repository_id, digest, size)
                        for digest, size in conn.execute(statement)
                    ]
            return removed

        return await self._db.write(work)

    async def link_counts(self, digests: Sequence[str]) -> dict[str, int]:
        """How many repositories link each of ``digests`` (absent: none)."""
        links = repository_blobs.c

        def work() -> dict[str, int]:
            counts: dict[str, int] = {}
            with self._db.reading() as conn:
                for start in range(0, len(digests), BATCH):
                    query = (
                        sa.select(links.digest, sa.func.count())
                        .where(links.digest.in_(list(digests[start : start + BATCH])))
                        .group_by(links.digest)
                    )
                    counts.update((digest, int(count)) for digest, count in conn.execute(query))
            return counts

        return await self._db.run(work)


def _unreferenced(linked_before: datetime) -> sa.ColumnElement[bool]:
    links = repository_blobs.c
    references = manifest_references.c
    # Any reference counts, whatever its kind: keeping a link too many is harmless.
    referenced = sa.exists().where(
        references.repository_id == links.repository_id, references.child_digest == links.digest
    )
    uploading = sa.exists().where(uploads.c.repository_id == links.repository_id)
    return sa.and_(links.created_at < linked_before, ~referenced, ~uploading)
