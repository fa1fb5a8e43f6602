"""Deleting images and tags on SQL, as the OCI and ECR APIs do, and announcing each
deletion (its ``image.delete`` event, and ``lifecycle.expired`` when a policy expired it)
in the deletion's transaction through the outbox the store was given.

Shares :class:`strongroom.metadata.images.SqlImageStore`'s tables and database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.outbox import DeletionOutbox, Expiry, announce_deletion
from strongroom.metadata.schema import manifest_references, manifests, tags

MANIFEST = "manifest"
"""``manifest_references.kind`` of a manifest an index lists."""


@dataclass(frozen=True, slots=True)
class Deletion:
    """What deleting an image or a tag did."""

    digest: str | None
    """The image found; None when there was nothing to delete."""
    tags: tuple[str, ...] = ()
    """The tags removed."""
    manifest_deleted: bool = False
    index: str | None = None
    """An index of the repository listing the manifest, which is therefore kept."""


class SqlImageDeletions:
    _db: Database
    _outbox: DeletionOutbox | None

    async def delete_image(
        self, repository_id: int, digest: str, *, now: datetime | None = None, expiry: Expiry | None = None
    ) -> Deletion:
        """Delete the manifest and its tags, unless an index of the repository lists it;
        ``expiry`` when a lifecycle policy deletes it."""

        def work() -> Deletion:
            with self._db.writing() as conn:
                exists = conn.scalar(
                    sa.select(manifests.c.digest).where(
                        manifests.c.repository_id == repository_id, manifests.c.digest == digest
                    )
                )
                if exists is None:
                    return Deletion(None)
                index = _index_listing(conn, repository_id, digest)
                if index is not None:
                    return Deletion(digest, index=index)
                removed = tuple(tags_by_digest(conn, repository_id, [digest]).get(digest, ()))
                conn.execute(tags.delete().where(_tag_points_at(repository_id, digest)))
                conn.execute(
                    manifests.delete().where(
                        manifests.c.repository_id == repository_id, manifests.c.digest == digest
                    )
                )
                self._announce(conn, repository_id, Deletion(digest, removed, True), now, expiry)
                return Deletion(digest, removed, manifest_deleted=True)

        return await self._db.write(work)

    async def untag(self, repository_id: int, tag: str, *, now: datetime | None = None) -> Deletion:
        """Remove the tag only (OCI ``DELETE`` by tag): its image stays, even untagged."""

        def work() -> Deletion:
            with self._db.writing() as conn:
                digest = conn.scalar(
                    tags.delete()
                    .where(tags.c.repository_id == repository_id, tags.c.name == tag)
                    .returning(tags.c.manifest_digest)
                )
                if digest is None:
                    return Deletion(None)
                self._announce(conn, repository_id, Deletion(digest, (tag,)), now)
                return Deletion(digest, (tag,))

        return await self._db.write(work)

    async def delete_image_tag(
        self, repository_id: int, tag: str, *, now: datetime | None = None
    ) -> Deletion:
        """Remove the tag; removing an image's last tag deletes the image, unless an
        index of the repository lists it."""

        def work() -> Deletion:
            with self._db.writing() as conn:
                digest = conn.scalar(
                    sa.select(tags.c.manifest_digest).where(
                        tags.c.repository_id == repository_id, tags.c.name == tag
                    )
                )
                if digest is None:
                    return Deletion(None)
                conn.execute(tags.delete().where(tags.c.repository_id == repository_id, tags.c.name == tag))
                others = conn.scalar(sa.select(sa.func.count()).where(_tag_points_at(repository_id, digest)))
                index = _index_listing(conn, repository_id, digest)
                if others or index is not None:
                    self._announce(conn, repository_id, Deletion(digest, (tag,)), now)
                    return Deletion(digest, (tag,), index=index)
                conn.execute(
                    manifests.delete().where(
                        manifests.c.repository_id == repository_id, manifests.c.digest == digest
                    )
                )
                self._announce(conn, repository_id, Deletion(digest, (tag,), True), now)
                return Deletion(digest, (tag,), manifest_deleted=True)

        return await self._db.write(work)

    def _announce(
        self,
        conn: sa.Connection,
        repository_id: int,
        deletion: Deletion,
        now: datetime | None,
        expiry: Expiry | None = None,
    ) -> None:
        if self._outbox is None or deletion.digest is None:
            return
        # Callers give the time; a store used without a clock (tests, tools) stamps its own.
        at = now if now is not None else datetime.now(UTC)
        deleted = (deletion.digest, deletion.tags, deletion.manifest_deleted)
        announce_deletion(conn, self._db.insert, self._outbox, repository_id, deleted, at, expiry)


def _tag_points_at(repository_id: int, digest: str) -> sa.ColumnElement[bool]:
    return sa.and_(tags.c.repository_id == repository_id, tags.c.manifest_digest == digest)


def announce_repository_images(
    conn: sa.Connection, insert: Any, outbox: DeletionOutbox | None, repository_id: int, now: datetime
) -> None:
    """Announce every image of a repository about to be deleted with it, in that deletion's
    transaction, as a deletion of each image would (with every tag it had)."""
    if outbox is None:
        return
    query = sa.select(manifests.c.digest).where(manifests.c.repository_id == repository_id)
    digests = list(conn.scalars(query.order_by(manifests.c.digest)))
    for start in range(0, len(digests), _ANNOUNCE_BATCH):
        batch = digests[start : start + _ANNOUNCE_BATCH]
        named = tags_by_digest(conn, repository_id, batch)
        for digest in batch:
            announce_deletion(conn, insert, outbox, repository_id, (digest, named.get(digest, ()), True), now)


_ANNOUNCE_BATCH = 500
"""Digests whose tags are read in one query when a deleted repository's images are announced."""


def tags_by_digest(conn: sa.Connection, repository_id: int, digests: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    query = (
        sa.select(tags.c.manifest_digest, tags.c.name)
        .where(tags.c.repository_id == repository_id, tags.c.manifest_digest.in_(digests))
        .order_by(tags.c.name)
    )
    for digest, name in conn.execute(query):
        found.setdefault(digest, []).append(name)
    return {digest: tuple(names) for digest, names in found.items()}


def _index_listing(conn: sa.Connection, repository_id: int, digest: str) -> str | None:
    references = manifest_references.c
    return conn.scalar(
        sa.select(references.manifest_digest)
        .where(
            references.repository_id == repository_id,
            references.kind == MANIFEST,
            references.child_digest == digest,
            references.manifest_digest != digest,
        )
        .order_by(references.manifest_digest)
        .limit(1)
    )
