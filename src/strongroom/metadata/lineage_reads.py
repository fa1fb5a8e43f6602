"""Reading image lineage on SQL (SQLite or PostgreSQL): the rows the ``lineage.detect`` job
records (:mod:`strongroom.metadata.lineage`), as ancestry, dependents, the patch report and
the pull gate read them (docs/adr/0021).

Every read is one query, or one per :data:`PAIRS_PER_QUERY` images; the report pages over
the tagged images in (account, repository, digest) order. Which repositories a caller may
see is decided above the store.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.lineage.roles import ROLE_TAG, role_of
from strongroom.metadata.database import Database
from strongroom.metadata.schema import (
    image_scans,
    lineage_images,
    manifest_references,
    repositories,
    repository_tags,
    scan_findings,
    tags,
)

MAX_DEPENDENTS = 10_000
PAIRS_PER_QUERY = 500
CRITICAL = "CRITICAL"


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A manifest as the lineage job reads it."""

    repository_id: int
    account_id: str
    repository: str
    digest: str
    media_type: str
    content: bytes
    annotations: dict[str, str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LineageRow:
    repository_id: int
    digest: str
    layer_count: int
    chain_hash: str | None
    parent_account_id: str | None
    parent_repository_id: int | None
    parent_name: str | None
    parent_digest: str | None
    parent_tag: str | None
    method: str | None
    pushed_at: datetime
    detected_at: datetime
    parent_layers: int | None = None
    layers_by: str | None = None
    """What the chain hashes: ``diff_ids``, or ``digests`` (None: recorded before 0015)."""
    digest_chain_hash: str | None = None
    """By diff ids: the chain of the compressed digests too (what a fallback looks up)."""
    pushed_tag: str | None = None
    """The tag the image was pushed with, else the first it was given after (None: never
    tagged since its row was written, or recorded before 0015)."""
    account_id: str = ""
    repository: str = ""


@dataclass(frozen=True, slots=True)
class TagState:
    digest: str
    updated_at: datetime
    children: tuple[str, ...]
    """The manifests an index names (empty for an image)."""


@dataclass(frozen=True, slots=True)
class LineageRepository:
    id: int
    account_id: str
    name: str
    role: str | None


def tagged(repository_id: Any, digest: Any) -> sa.ColumnElement[bool]:
    """The manifest carries a tag, or an index of its repository that names it does."""
    direct = sa.exists().where(tags.c.repository_id == repository_id, tags.c.manifest_digest == digest)
    parent = manifest_references.alias("parent_index")
    through_index = sa.exists().where(
        parent.c.repository_id == repository_id,
        parent.c.child_digest == digest,
        parent.c.kind == "manifest",
        tags.c.repository_id == parent.c.repository_id,
        tags.c.manifest_digest == parent.c.manifest_digest,
    )
    return sa.or_(direct, through_index)


ROLE = repository_tags.alias("role_tag")
ROW = sa.select(lineage_images, repositories.c.account_id, repositories.c.name.label("repository")).join(
    repositories, repositories.c.id == lineage_images.c.repository_id
)


_TAGS_ON = (
    sa.select(tags.c.name, tags.c.updated_at)
    .where(
        tags.c.repository_id == sa.bindparam("repository_id"),
        tags.c.manifest_digest == sa.bindparam("digest"),
    )
    .order_by(tags.c.updated_at.desc(), tags.c.name)
)
_TAGS_THROUGH_INDEXES = (
    sa.select(tags.c.name, tags.c.updated_at)
    .join(
        manifest_references,
        sa.and_(
            manifest_references.c.repository_id == tags.c.repository_id,
            manifest_references.c.manifest_digest == tags.c.manifest_digest,
        ),
    )
    .where(
        tags.c.repository_id == sa.bindparam("repository_id"),
        manifest_references.c.child_digest == sa.bindparam("digest"),
        manifest_references.c.kind == "manifest",
    )
    .order_by(tags.c.updated_at.desc(), tags.c.name)
)
"""Built once (``tags_of`` runs in every detection)."""
_TAG = sa.select(tags.c.manifest_digest, tags.c.updated_at).where(
    tags.c.repository_id == sa.bindparam("repository_id"), tags.c.name == sa.bindparam("tag")
)
_INDEX_CHILDREN = sa.select(manifest_references.c.child_digest).where(
    manifest_references.c.repository_id == sa.bindparam("repository_id"),
    manifest_references.c.manifest_digest == sa.bindparam("digest"),
    manifest_references.c.kind == "manifest",
)
"""Built once too (a detection reads the pushed tag's state)."""


def tag_state_on(conn: sa.Connection, repository_id: int, tag: str) -> TagState | None:
    """What the tag names now, since when, and an index's manifests (two lookups by key)."""
    found = conn.execute(_TAG, {"repository_id": repository_id, "tag": tag}).first()
    if found is None:
        return None
    params = {"repository_id": repository_id, "digest": found.manifest_digest}
    children = conn.scalars(_INDEX_CHILDREN, params).all()
    return TagState(found.manifest_digest, found.updated_at, tuple(children))


def row_of(row: Any) -> LineageRow:
    return LineageRow(**row._mapping)


class SqlLineageReads:
    """What the reads (show, dependents, report, the gate) ask of the lineage rows."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def repository_id(self, account_id: str, name: str) -> int | None:
        def work() -> int | None:
            query = sa.select(repositories.c.id).where(
                repositories.c.account_id == account_id, repositories.c.name == name
            )
            with self._db.reading() as conn:
                found: int | None = conn.scalar(query)
            return found

        return await self._db.read(work)

    async def roles(self, account_id: str, names: Collection[str]) -> dict[str, str]:
        """The role of each of the account's repositories ``names`` that has one."""

        def work() -> dict[str, str]:
            query = (
                sa.select(repositories.c.name, repository_tags.c.value)
                .join(repository_tags, repository_tags.c.repository_id == repositories.c.id)
                .where(
                    repositories.c.account_id == account_id,
                    repositories.c.name.in_(list(names)),
                    repository_tags.c.key == ROLE_TAG,
                )
            )
            with self._db.reading() as conn:
                rows = conn.execute(query).all()
            return {name: role for name, value in rows if (role := role_of(value)) is not None}

        return await self._db.run(work)

    async def tags_of(self, repository_id: int, digest: str) -> list[str]:
        """The tags on the manifest, then those on indexes of its repository that name it."""

        def work() -> list[str]:
            params = {"repository_id": repository_id, "digest": digest}
            with self._db.reading() as conn:
                first = conn.execute(_TAGS_ON, params).all()
                second = conn.execute(_TAGS_THROUGH_INDEXES, params).all()
            return list(dict.fromkeys(row.name for row in [*first, *second]))

        return await self._db.run(work)

    async def row(self, repository_id: int, digest: str) -> LineageRow | None:
        def work() -> LineageRow | None:
            query = ROW.where(
                lineage_images.c.repository_id == repository_id, lineage_images.c.digest == digest
            )
            with self._db.reading() as conn:
                found = conn.execute(query).first()
            return None if found is None else row_of(found)

        return await self._db.run(work)

    async def built_on(self, parents: Collection[tuple[int, str]]) -> list[LineageRow]:
        """The images whose parent is one of ``parents`` (repository id, digest)."""
        if not parents:
            return []

        def work() -> list[LineageRow]:
            pairs = sa.tuple_(lineage_images.c.parent_repository_id, lineage_images.c.parent_digest)
            query = ROW.where(pairs.in_(list(parents))).limit(MAX_DEPENDENTS)
            with self._db.reading() as conn:
                return [row_of(r) for r in conn.execute(query)]

        return await self._db.run(work)

    async def repositories(self) -> list[LineageRepository]:
        """The repositories holding tagged images with lineage (for the report)."""

        def work() -> list[LineageRepository]:
            holding = sa.select(lineage_images.c.repository_id).distinct().scalar_subquery()
            query = (
                sa.select(repositories.c.id, repositories.c.account_id, repositories.c.name, ROLE.c.value)
                .outerjoin(ROLE, sa.and_(ROLE.c.repository_id == repositories.c.id, ROLE.c.key == ROLE_TAG))
                .where(repositories.c.id.in_(holding))
                .order_by(repositories.c.account_id, repositories.c.name)
            )
            with self._db.reading() as conn:
                return [LineageRepository(r[0], r[1], r[2], role_of(r[3])) for r in conn.execute(query)]

        return await self._db.run(work)

    async def tagged_rows(
        self, repository_ids: Collection[int], *, after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[LineageRow]:  # fmt: skip
        """The tagged images of the repositories in (account, repository, digest) order,
        after ``after`` (keyset paging), at most ``limit``: one query."""
        if not repository_ids:
            return []

        def work() -> list[LineageRow]:
            order = (repositories.c.account_id, repositories.c.name, lineage_images.c.digest)
            query = ROW.where(
                lineage_images.c.repository_id.in_(list(repository_ids)),
                tagged(lineage_images.c.repository_id, lineage_images.c.digest),
            ).order_by(*order)
            if after is not None:
                query = query.where(sa.tuple_(*order) > sa.tuple_(*(sa.literal(v) for v in after)))
            if limit is not None:
                query = query.limit(limit)
            with self._db.reading() as conn:
                return [row_of(r) for r in conn.execute(query)]

        return await self._db.run(work)

    async def tags_for(self, images: Collection[tuple[int, str]]) -> dict[tuple[int, str], list[str]]:
        """The tags of each image (repository id, digest): its own and those of the indexes
        of its repository that name it, sorted; two queries per :data:`PAIRS_PER_QUERY`
        images (a row-value ``IN`` of 10,000 pairs exceeds PostgreSQL's stack depth)."""
        found: dict[tuple[int, str], set[str]] = {}
        listed = list(images)
        for start in range(0, len(listed), PAIRS_PER_QUERY):
            await self._db.run(self._tags_for, listed[start : start + PAIRS_PER_QUERY], found)
        return {key: sorted(names) for key, names in found.items()}

    def _tags_for(self, pairs: list[tuple[int, str]], found: dict[tuple[int, str], set[str]]) -> None:
        direct = sa.select(tags.c.repository_id, tags.c.manifest_digest, tags.c.name).where(
            sa.tuple_(tags.c.repository_id, tags.c.manifest_digest).in_(pairs)
        )
        through = (
            sa.select(manifest_references.c.repository_id, manifest_references.c.child_digest, tags.c.name)
            .join(
                tags,
                sa.and_(
                    tags.c.repository_id == manifest_references.c.repository_id,
                    tags.c.manifest_digest == manifest_references.c.manifest_digest,
                ),
            )
            .where(
                sa.tuple_(manifest_references.c.repository_id, manifest_references.c.child_digest).in_(pairs),
                manifest_references.c.kind == "manifest",
            )
        )
        with self._db.reading() as conn:
            for repository_id, digest, name in [*conn.execute(direct), *conn.execute(through)]:
                found.setdefault((repository_id, digest), set()).add(name)

    async def tag_state(self, repository_id: int, tag: str) -> TagState | None:
        """What the tag names now, since when, and an index's manifests."""

        def work() -> TagState | None:
            with self._db.reading() as conn:
                return tag_state_on(conn, repository_id, tag)

        return await self._db.run(work)

    async def fixable_critical(self, repository_id: int, digests: Collection[str]) -> set[str]:
        """The names of the open CRITICAL vulnerability findings with a fix available of
        the images ``digests`` of the repository."""

        def work() -> set[str]:
            query = sa.select(scan_findings.c.name, scan_findings.c.document).where(
                scan_findings.c.repository_id == repository_id,
                scan_findings.c.image_digest.in_(list(digests)),
                scan_findings.c.closed_at.is_(None),
                scan_findings.c.severity == CRITICAL,
            )
            with self._db.reading() as conn:
                rows = conn.execute(query).all()
            return {row.name for row in rows if _fixable(row.document)}

        return await self._db.run(work)

    async def vulnerability_names(self, repository_id: int, digests: Collection[str]) -> set[str] | None:
        """The names of the images' open findings; None when none of them was scanned."""

        def work() -> set[str] | None:
            with self._db.reading() as conn:
                scanned = conn.scalar(
                    sa.select(sa.func.count()).where(
                        image_scans.c.repository_id == repository_id,
                        image_scans.c.image_digest.in_(list(digests)),
                        image_scans.c.status == "COMPLETE",
                    )
                )
                if not scanned:
                    return None
                return set(
                    conn.scalars(
                        sa.select(scan_findings.c.name).where(
                            scan_findings.c.repository_id == repository_id,
                            scan_findings.c.image_digest.in_(list(digests)),
                            scan_findings.c.closed_at.is_(None),
                        )
                    )
                )

        return await self._db.run(work)


def _fixable(document: str) -> bool:
    try:
        parsed = json.loads(document)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("fix_available") == "YES"
