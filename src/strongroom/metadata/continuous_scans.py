"""What continuous scanning reads and writes beside a scan: the accounts' scanning
configurations, the repositories and images re-evaluation may cover, and an image's
scan eligibility expiring.

Which of them are re-evaluated is decided above the store
(:mod:`strongroom.scanning.continuous`); the store only lists and marks. Expiry is
conditional on the scan still being ``COMPLETE``, so a scan queued or running since
is never overwritten.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.scans import COMPLETE, SCAN_ELIGIBILITY_EXPIRED
from strongroom.metadata.schema import account_settings, image_scans, manifests, repositories, tags

SCANNING_SETTING = "scanning"
_PAGE = 500


@dataclass(frozen=True, slots=True)
class RepositoryScanning:
    id: int
    name: str
    scan_on_push: bool


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """An image whose last scan is COMPLETE, with what decides its eligibility."""

    repository_id: int
    digest: str
    pushed_at: datetime
    last_pulled_at: datetime | None
    tags: tuple[str, ...]


class SqlContinuousScanStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def scanning_configurations(self) -> dict[str, str]:
        """Each account that has a registry scanning configuration: its stored JSON."""

        def work() -> dict[str, str]:
            query = sa.select(account_settings.c.account_id, account_settings.c.value).where(
                account_settings.c.name == SCANNING_SETTING
            )
            with self._db.reading() as conn:
                return {account_id: value for account_id, value in conn.execute(query)}

        return await self._db.run(work)

    async def repositories(self, account_id: str) -> list[RepositoryScanning]:
        def work() -> list[RepositoryScanning]:
            query = (
                sa.select(repositories.c.id, repositories.c.name, repositories.c.scan_on_push)
                .where(repositories.c.account_id == account_id)
                .order_by(repositories.c.id)
            )
            with self._db.reading() as conn:
                return [RepositoryScanning(i, n, bool(s)) for i, n, s in conn.execute(query)]

        return await self._db.run(work)

    async def complete_images(
        self, repository_id: int, *, after: str | None = None, limit: int = _PAGE
    ) -> list[ScannedImage]:
        """A page of the repository's images whose last scan is COMPLETE, in digest order
        after ``after``, with their tags; the registry's own SBOMs are not among them."""

        def work() -> list[ScannedImage]:
            query = (
                sa.select(manifests.c.digest, manifests.c.created_at, manifests.c.last_pulled_at)
                .join(
                    image_scans,
                    sa.and_(
                        image_scans.c.repository_id == manifests.c.repository_id,
                        image_scans.c.image_digest == manifests.c.digest,
                    ),
                )
                .where(
                    manifests.c.repository_id == repository_id,
                    image_scans.c.status == COMPLETE,
                    image_scans.c.made_by_registry.is_(False),  # the registry's SBOMs (ADR 0016)
                )
                .order_by(manifests.c.digest)
                .limit(limit)
            )
            if after is not None:
                query = query.where(manifests.c.digest > after)
            with self._db.reading() as conn:
                rows = conn.execute(query).all()
                named = _tags(conn, repository_id, [row.digest for row in rows])
            return [
                ScannedImage(repository_id, r.digest, r.created_at, r.last_pulled_at, named.get(r.digest, ()))
                for r in rows
            ]

        return await self._db.run(work)

    async def expire(self, repository_id: int, digest: str, now: datetime, description: str) -> bool:
        """Mark a COMPLETE scan SCAN_ELIGIBILITY_EXPIRED; its findings stay as they were.
        False when the scan is no longer COMPLETE (a new scan was queued since)."""

        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    image_scans.update()
                    .where(
                        image_scans.c.repository_id == repository_id,
                        image_scans.c.image_digest == digest,
                        image_scans.c.status == COMPLETE,
                    )
                    .values(status=SCAN_ELIGIBILITY_EXPIRED, description=description, updated_at=now)
                )
                return result.rowcount == 1

        return await self._db.write(work)


def _tags(conn: sa.Connection, repository_id: int, digests: Collection[str]) -> dict[str, tuple[str, ...]]:
    if not digests:
        return {}
    named: dict[str, list[str]] = {}
    query = (
        sa.select(tags.c.manifest_digest, tags.c.name)
        .where(tags.c.repository_id == repository_id, tags.c.manifest_digest.in_(list(digests)))
        .order_by(tags.c.name)
    )
    for digest, name in conn.execute(query):
        named.setdefault(digest, []).append(name)
    return {digest: tuple(names) for digest, names in named.items()}
