"""Images as the ECR API lists, describes and deletes them, on SQL.

An image is a manifest of a repository; tags point at it. ECR looks at them in ways
the OCI core (:mod:`strongroom.metadata.sql`) does not: one row per (digest, tag),
one summary per digest with its tags and size, and deletions that keep the children
of an index. This store shares the core's tables and its :class:`Database`; the
schema is the core's.

Sizes are what ECR calls ``imageSizeInBytes``: the linked sizes of the config and
layers of an image manifest; for an index, the largest of its children's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.image_deletions import MANIFEST, SqlImageDeletions, tags_by_digest
from strongroom.metadata.outbox import DeletionOutbox
from strongroom.metadata.schema import manifest_references, manifests, repository_blobs, tags
from strongroom.oci.mediatypes import INDEXES

TagStatus = Literal["TAGGED", "UNTAGGED", "ANY"]
BLOB = "blob"


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """One image (manifest digest) as ``DescribeImages`` shows it."""

    digest: str
    media_type: str
    tags: tuple[str, ...]
    size: int
    pushed_at: datetime
    last_pulled_at: datetime | None
    subject_digest: str | None
    config_media_type: str | None
    """The media type of an image manifest's config; None for an index."""


@dataclass(frozen=True, slots=True)
class TaggedImage:
    """A tag as ECR Public's ``DescribeImageTags`` shows it."""

    tag: str
    tagged_at: datetime
    """When the tag was last set: moving a tag makes it a new one."""
    image: ImageSummary


@dataclass(frozen=True, slots=True)
class LinkedLayer:
    size: int
    media_type: str | None
    """As a manifest of the repository describes the blob; None when none does."""


class SqlImageStore(SqlImageDeletions):
    def __init__(self, database: Database, outbox: DeletionOutbox | None = None) -> None:
        """``outbox`` says which events and jobs a deletion causes; they are written in
        the deletion's transaction."""
        self._db = database
        self._outbox = outbox

    async def list_image_ids(
        self, repository_id: int, *, tag_status: TagStatus, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str | None]]:
        """(digest, tag) pairs in (digest, tag) order, untagged images with tag None;
        ``after`` is the (digest, tag or "") last seen."""
        tag_name = sa.func.coalesce(tags.c.name, "")
        query = (
            sa.select(manifests.c.digest, tags.c.name)
            .select_from(manifests.outerjoin(tags, _tags_of_manifest()))
            .where(manifests.c.repository_id == repository_id)
        )
        if tag_status == "TAGGED":
            query = query.where(tags.c.name.is_not(None))
        elif tag_status == "UNTAGGED":
            query = query.where(tags.c.name.is_(None))
        if after is not None:
            digest, tag = after
            query = query.where(
                sa.or_(manifests.c.digest > digest, sa.and_(manifests.c.digest == digest, tag_name > tag))
            )
        query = query.order_by(manifests.c.digest, tag_name).limit(limit)

        def work() -> list[tuple[str, str | None]]:
            with self._db.reading() as conn:
                return [(row.digest, row.name) for row in conn.execute(query)]

        return await self._db.run(work)

    async def describe_images(
        self,
        repository_id: int,
        *,
        digests: Sequence[str] | None = None,
        tag_status: TagStatus = "ANY",
        after: str | None = None,
        limit: int = 1000,
    ) -> list[ImageSummary]:
        """Summaries in digest order: of ``digests``, or a page of all after ``after``."""
        query = _summaries_query(repository_id, digests, tag_status, after).limit(limit)

        def work() -> list[ImageSummary]:
            with self._db.reading() as conn:
                return _summaries(conn, repository_id, query)

        return await self._db.run(work)

    async def describe_tags(self, repository_id: int, *, after: str | None, limit: int) -> list[TaggedImage]:
        """A page of tags in name order after ``after``, each with its image, read in
        one transaction so a tag never names an image that is gone."""
        query = sa.select(tags.c.name, tags.c.manifest_digest, tags.c.updated_at).where(
            tags.c.repository_id == repository_id
        )
        if after is not None:
            query = query.where(tags.c.name > after)
        query = query.order_by(tags.c.name).limit(limit)

        def work() -> list[TaggedImage]:
            with self._db.reading() as conn:
                rows = conn.execute(query).all()
                digests = sorted({row.manifest_digest for row in rows})
                described = _summaries_query(repository_id, digests, "ANY", None)
                images = _summaries(conn, repository_id, described)
            by_digest = {image.digest: image for image in images}
            return [TaggedImage(row.name, row.updated_at, by_digest[row.manifest_digest]) for row in rows]

        return await self._db.run(work)

    async def resolve(
        self, repository_id: int, *, tag_names: Sequence[str] = (), digests: Sequence[str] = ()
    ) -> tuple[dict[str, str], set[str]]:
        """The digests the given tags point at, and which of ``digests`` exist."""

        def work() -> tuple[dict[str, str], set[str]]:
            with self._db.reading() as conn:
                pointed = dict(
                    conn.execute(
                        sa.select(tags.c.name, tags.c.manifest_digest).where(
                            tags.c.repository_id == repository_id, tags.c.name.in_(list(tag_names))
                        )
                    ).all()
                )
                existing = set(
                    conn.scalars(
                        sa.select(manifests.c.digest).where(
                            manifests.c.repository_id == repository_id, manifests.c.digest.in_(list(digests))
                        )
                    )
                )
            return pointed, existing

        return await self._db.run(work)

    async def linked_layers(self, repository_id: int, digests: Sequence[str]) -> dict[str, LinkedLayer]:
        """The blobs among ``digests`` linked in the repository, with the media type a
        manifest of the repository gives each."""

        def work() -> dict[str, LinkedLayer]:
            with self._db.reading() as conn:
                sizes = dict(
                    conn.execute(
                        sa.select(repository_blobs.c.digest, repository_blobs.c.size).where(
                            repository_blobs.c.repository_id == repository_id,
                            repository_blobs.c.digest.in_(list(digests)),
                        )
                    ).all()
                )
                described = _describing_manifests(conn, repository_id, list(sizes))
            media_types = {blob: _descriptor_media_type(content, blob) for blob, content in described.items()}
            return {digest: LinkedLayer(size, media_types.get(digest)) for digest, size in sizes.items()}

        return await self._db.run(work)

    async def blob_is_known(self, digest: str) -> bool:
        """Whether any repository links the blob."""

        def work() -> bool:
            with self._db.reading() as conn:
                query = sa.select(repository_blobs.c.digest).where(repository_blobs.c.digest == digest)
                return conn.scalar(query.limit(1)) is not None

        return await self._db.run(work)


def _summaries_query(
    repository_id: int, digests: Sequence[str] | None, tag_status: TagStatus, after: str | None
) -> sa.Select[Any]:
    query = sa.select(
        manifests.c.digest,
        manifests.c.media_type,
        manifests.c.created_at,
        manifests.c.last_pulled_at,
        manifests.c.subject_digest,
        # Read only to learn the config's media type; indexes have none.
        sa.case((manifests.c.media_type.in_(INDEXES), sa.null()), else_=manifests.c.content).label("content"),
    ).where(manifests.c.repository_id == repository_id)
    if digests is not None:
        query = query.where(manifests.c.digest.in_(list(digests)))
    tagged = sa.exists().where(_tags_of_manifest())
    if tag_status == "TAGGED":
        query = query.where(tagged)
    elif tag_status == "UNTAGGED":
        query = query.where(~tagged)
    if after is not None:
        query = query.where(manifests.c.digest > after)
    return query.order_by(manifests.c.digest)


def _summaries(conn: sa.Connection, repository_id: int, query: sa.Select[Any]) -> list[ImageSummary]:
    rows = conn.execute(query).all()
    page = [row.digest for row in rows]
    image_tags = tags_by_digest(conn, repository_id, page)
    sizes = _sizes(conn, repository_id, page)
    return [
        ImageSummary(
            row.digest,
            row.media_type,
            image_tags.get(row.digest, ()),
            sizes.get(row.digest, 0),
            row.created_at,
            row.last_pulled_at,
            row.subject_digest,
            _config_media_type(row.content),
        )
        for row in rows
    ]


def _tags_of_manifest() -> sa.ColumnElement[bool]:
    return sa.and_(
        tags.c.repository_id == manifests.c.repository_id, tags.c.manifest_digest == manifests.c.digest
    )


def _sizes(conn: sa.Connection, repository_id: int, digests: list[str]) -> dict[str, int]:
    """Config and layer sizes of image manifests; an index's is its largest child's."""
    references = manifest_references.c
    children: dict[str, list[str]] = {}
    for parent, child in conn.execute(
        sa.select(references.manifest_digest, references.child_digest).where(
            references.repository_id == repository_id,
            references.kind == MANIFEST,
            references.manifest_digest.in_(digests),
        )
    ):
        children.setdefault(parent, []).append(child)
    wanted = set(digests).union(*children.values())
    blob_sums = dict(
        conn.execute(
            sa.select(references.manifest_digest, sa.func.sum(repository_blobs.c.size))
            .join(
                repository_blobs,
                sa.and_(
                    repository_blobs.c.repository_id == references.repository_id,
                    repository_blobs.c.digest == references.child_digest,
                ),
            )
            .where(
                references.repository_id == repository_id,
                references.kind == BLOB,
                references.manifest_digest.in_(wanted),
            )
            .group_by(references.manifest_digest)
        ).all()
    )
    sizes = {digest: int(blob_sums.get(digest) or 0) for digest in digests}
    for parent, listed in children.items():
        sizes[parent] = max(int(blob_sums.get(child) or 0) for child in listed)
    return sizes


def _describing_manifests(conn: sa.Connection, repository_id: int, blobs: list[str]) -> dict[str, bytes]:
    """For each blob, the content of one manifest of the repository that references it."""
    references = manifest_references.c
    chosen = dict(
        conn.execute(
            sa.select(references.child_digest, sa.func.min(references.manifest_digest))
            .where(
                references.repository_id == repository_id,
                references.kind == BLOB,
                references.child_digest.in_(blobs),
            )
            .group_by(references.child_digest)
        ).all()
    )
    contents = dict(
        conn.execute(
            sa.select(manifests.c.digest, manifests.c.content).where(
                manifests.c.repository_id == repository_id, manifests.c.digest.in_(set(chosen.values()))
            )
        ).all()
    )
    return {blob: contents[manifest] for blob, manifest in chosen.items() if manifest in contents}


def _document(content: bytes | None) -> dict[str, Any]:
    # Stored manifests were validated on push; anything else reads as "unknown".
    try:
        document = json.loads(content) if content else None
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _config_media_type(content: bytes | None) -> str | None:
    config = _document(content).get("config")
    media_type = config.get("mediaType") if isinstance(config, dict) else None
    return media_type if isinstance(media_type, str) else None


def _descriptor_media_type(content: bytes, digest: str) -> str | None:
    document = _document(content)
    layers = document.get("layers")
    for descriptor in [document.get("config"), *(layers if isinstance(layers, list) else ())]:
        if isinstance(descriptor, dict) and descriptor.get("digest") == digest:
            media_type = descriptor.get("mediaType")
            return media_type if isinstance(media_type, str) else None
    return None
