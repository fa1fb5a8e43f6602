"""Image lineage on SQL (SQLite or PostgreSQL), as the ``lineage.detect`` job writes it: one
``lineage_images`` row per image manifest the job has read, with the chain hash of its
layers and the image it is built on (docs/adr/0021); the reads are
:class:`~strongroom.metadata.lineage_reads.SqlLineageReads`, which this store also is.

Finding an image's candidate parents is one query of two indexes (``chain_hash`` or
``digest_chain_hash`` IN the image's prefix hashes), whatever the number of images stored.
A row goes with its manifest (``ON DELETE CASCADE``); an edge names its parent by
repository id, digest and the tag it was built from, so it stays when tags move, and the
parent's tag is read again when someone asks.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.lineage.parents import Candidate
from strongroom.lineage.roles import ROLE_TAG, role_of
from strongroom.metadata.lineage_reads import (
    MAX_DEPENDENTS,
    ROLE,
    ROW,
    ImageRecord,
    LineageRow,
    SqlLineageReads,
    TagState,
    row_of,
    tag_state_on,
    tagged,
)
from strongroom.metadata.outbox import Outbox, write_outbox
from strongroom.metadata.schema import (
    events,
    lineage_images,
    lineage_prefixes,
    manifests,
    repositories,
    tags,
)

MAX_CANDIDATES = 1000

# Statements built once, with bound parameters: building one per call (its clauses and
# cache key) cost more than SQLite running it, and a detection runs a dozen per push.
_IMAGE = (
    sa.select(
        repositories.c.id,
        repositories.c.account_id,
        repositories.c.name,
        manifests.c.digest,
        manifests.c.media_type,
        manifests.c.content,
        manifests.c.annotations,
        manifests.c.created_at,
    )
    .join(manifests, manifests.c.repository_id == repositories.c.id)
    .where(
        repositories.c.account_id == sa.bindparam("account_id"),
        repositories.c.name == sa.bindparam("name"),
        manifests.c.digest == sa.bindparam("digest"),
    )
)
_FOUND = sa.union(
    # A union, not an OR, so that each side is one index's lookup on PostgreSQL too.
    sa.select(lineage_images.c.repository_id, lineage_images.c.digest).where(
        lineage_images.c.chain_hash.in_(sa.bindparam("hashes", expanding=True))
    ),
    sa.select(lineage_images.c.repository_id, lineage_images.c.digest).where(
        lineage_images.c.digest_chain_hash.in_(sa.bindparam("hashes", expanding=True))
    ),
).subquery("found")
_CANDIDATES = (
    sa.select(
        lineage_images.c.repository_id,
        repositories.c.account_id,
        repositories.c.name,
        lineage_images.c.digest,
        lineage_images.c.layer_count,
        ROLE.c.value,
        tagged(lineage_images.c.repository_id, lineage_images.c.digest).label("tagged"),
        lineage_images.c.pushed_at,
        lineage_images.c.pushed_tag,
    )
    .select_from(_FOUND)
    .join(
        lineage_images,
        sa.and_(
            lineage_images.c.repository_id == _FOUND.c.repository_id,
            lineage_images.c.digest == _FOUND.c.digest,
        ),
    )
    .join(repositories, repositories.c.id == lineage_images.c.repository_id)
    .outerjoin(ROLE, sa.and_(ROLE.c.repository_id == repositories.c.id, ROLE.c.key == ROLE_TAG))
    .limit(MAX_CANDIDATES)
)
_THIS_IMAGE = (
    lineage_images.c.repository_id == sa.bindparam("image_repository_id"),
    lineage_images.c.digest == sa.bindparam("image_digest"),
)
_MANIFEST_EXISTS = sa.select(manifests.c.digest).where(
    manifests.c.repository_id == sa.bindparam("image_repository_id"),
    manifests.c.digest == sa.bindparam("image_digest"),
)
_DELETE_IMAGE = lineage_images.delete().where(*_THIS_IMAGE)
_INSERT_IMAGE = lineage_images.insert()
_INSERT_PREFIXES = lineage_prefixes.insert()
_UPDATE_IMAGE = lineage_images.update().where(*_THIS_IMAGE)
"""The columns set are the keys of the parameters given besides ``image_*``."""
_NOTE_TAG = (
    lineage_images.update()
    .where(*_THIS_IMAGE, lineage_images.c.pushed_tag.is_(None))
    .values(pushed_tag=sa.bindparam("tag"))
)
_SHALLOWER_DESCENDANTS = (
    sa.select(
        repositories.c.account_id, repositories.c.name, lineage_images.c.digest, lineage_images.c.layer_count
    )
    .select_from(lineage_prefixes)
    .join(
        lineage_images,
        sa.and_(
            lineage_images.c.repository_id == lineage_prefixes.c.repository_id,
            lineage_images.c.digest == lineage_prefixes.c.digest,
        ),
    )
    .join(repositories, repositories.c.id == lineage_images.c.repository_id)
    .where(
        lineage_prefixes.c.prefix_hash.in_(sa.bindparam("hashes", expanding=True)),
        lineage_prefixes.c.depth == sa.bindparam("depth"),
        lineage_images.c.layer_count > sa.bindparam("depth"),
        sa.or_(lineage_images.c.method.is_(None), lineage_images.c.method != "annotation"),
        sa.or_(
            lineage_images.c.parent_layers.is_(None), lineage_images.c.parent_layers <= sa.bindparam("depth")
        ),
    )
    .limit(MAX_DEPENDENTS)
)
_BUILT_FROM_TAG = ROW.where(
    lineage_images.c.parent_repository_id == sa.bindparam("repository_id"),
    lineage_images.c.parent_tag == sa.bindparam("tag"),
    lineage_images.c.parent_digest.not_in(sa.bindparam("keep", expanding=True)),
    tagged(lineage_images.c.repository_id, lineage_images.c.digest),
).limit(MAX_DEPENDENTS)
"""The tagged images built from a tag at a digest not in ``keep`` (what it names now)."""
_PREFIXES_OF = (
    sa.select(lineage_prefixes.c.prefix_hash)
    .where(
        lineage_prefixes.c.repository_id == sa.bindparam("image_repository_id"),
        lineage_prefixes.c.digest == sa.bindparam("image_digest"),
        lineage_prefixes.c.depth < sa.bindparam("layer_count"),
    )
    .order_by(lineage_prefixes.c.depth)
)
"""An image's proper prefixes (rows written before 2026-12-07 also hold the whole list)."""


class SqlLineageStore(SqlLineageReads):
    """The job's reads and writes, and (inherited) every read of the rows."""

    async def image(self, account_id: str, name: str, digest: str) -> ImageRecord | None:
        def work() -> ImageRecord | None:
            with self._db.reading() as conn:
                row = conn.execute(_IMAGE, {"account_id": account_id, "name": name, "digest": digest}).first()
            if row is None:
                return None
            try:
                annotations = json.loads(row.annotations) if row.annotations else {}
            except ValueError:
                annotations = {}
            if not isinstance(annotations, dict):
                annotations = {}
            clean = {str(k): v for k, v in annotations.items() if isinstance(v, str)}
            return ImageRecord(
                row.id, row.account_id, row.name, row.digest, row.media_type, row.content, clean,
                row.created_at,
            )  # fmt: skip

        return await self._db.read(work)

    async def candidates(self, hashes: Sequence[str]) -> list[Candidate]:
        """The images whose whole layer list hashes to one of ``hashes`` (by diff id or by
        digest): one query of two indexes."""
        if not hashes:
            return []

        def work() -> list[Candidate]:
            with self._db.reading() as conn:
                rows = conn.execute(_CANDIDATES, {"hashes": list(hashes)}).all()
            return [
                Candidate(r[0], r[1], r[2], r[3], r[4], role_of(r[5]), bool(r[6]), r[7], r[8]) for r in rows
            ]

        return await self._db.read(work)

    async def manifest_in(
        self, account_id: str, name: str, *, tag: str | None, digest: str | None
    ) -> tuple[int, str] | None:
        """The repository id and digest that ``name`` with ``tag`` or ``digest`` names."""

        def work() -> tuple[int, str] | None:
            with self._db.reading() as conn:
                repository_id = conn.scalar(
                    sa.select(repositories.c.id).where(
                        repositories.c.account_id == account_id, repositories.c.name == name
                    )
                )
                if repository_id is None:
                    return None
                if digest is not None:
                    found = conn.scalar(
                        sa.select(manifests.c.digest).where(
                            manifests.c.repository_id == repository_id, manifests.c.digest == digest
                        )
                    )
                else:
                    found = conn.scalar(
                        sa.select(tags.c.manifest_digest).where(
                            tags.c.repository_id == repository_id, tags.c.name == tag
                        )
                    )
            return None if found is None else (repository_id, found)

        return await self._db.run(work)

    async def record_chain(self, row: LineageRow, hashes: Sequence[str], now: datetime) -> bool:
        """Store (or replace) the image's row, without a parent yet, and the hashes of its
        proper prefixes (its whole list is the row's ``chain_hash``: an image with the same
        layers is not built on it, and a base's lookup of its descendants must not step
        over every such sibling); False, nothing written, when the manifest is gone.
        Written before the parent is looked for, so that of two images recorded at once
        the later finds the earlier. ``hashes``: every prefix's, the whole list's last."""

        def work() -> bool:
            image = {"image_repository_id": row.repository_id, "image_digest": row.digest}
            with self._db.writing() as conn:
                if conn.scalar(_MANIFEST_EXISTS, image) is None:
                    return False
                conn.execute(_DELETE_IMAGE, image)
                values = {c.name: getattr(row, c.name) for c in lineage_images.columns}
                conn.execute(_INSERT_IMAGE, {**values, "detected_at": now})
                if len(hashes) > 1:
                    conn.execute(
                        _INSERT_PREFIXES,
                        [
                            {"prefix_hash": h, "repository_id": row.repository_id, "digest": row.digest,
                             "depth": depth}
                            for depth, h in enumerate(hashes[:-1], start=1)
                        ],
                    )  # fmt: skip
                return True

        return await self._db.write(work)

    async def note_tag(self, repository_id: int, digest: str, tag: str) -> None:
        """Keep ``tag`` as the image's ``pushed_tag`` when it has none yet."""

        def work() -> None:
            with self._db.writing() as conn:
                params = {"image_repository_id": repository_id, "image_digest": digest, "tag": tag}
                conn.execute(_NOTE_TAG, params)

        await self._db.write(work)

    async def set_parent(
        self, repository_id: int, digest: str, parent: Mapping[str, Any], now: datetime
    ) -> None:
        """Record the image's parent (the ``parent_*`` and ``method`` columns)."""
        params = {**parent, "detected_at": now, "image_repository_id": repository_id, "image_digest": digest}

        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(_UPDATE_IMAGE, params)

        await self._db.write(work)

    async def shallower_descendants(
        self, chain_hashes: Collection[str], depth: int
    ) -> list[tuple[str, str, str, int]]:
        """The images whose layers start with the ``depth`` layers hashing to one of
        ``chain_hashes`` (the base's by diff id and by digest), and have more,
        and whose recorded parent (by layers) has no more (a tie is chosen again: a base's
        role may win it): (account, repository, digest, layer count) of each, for a base
        recorded after them to claim them. One indexed lookup of proper prefixes: the
        images with the base's very layers are not stepped over."""

        def work() -> list[tuple[str, str, str, int]]:
            params = {"hashes": list(chain_hashes), "depth": depth}
            with self._db.reading() as conn:
                return [(r[0], r[1], r[2], r[3]) for r in conn.execute(_SHALLOWER_DESCENDANTS, params)]

        return await self._db.read(work)

    async def prefixes_of(self, repository_id: int, digest: str, layer_count: int) -> list[str]:
        """The hashes of the image's proper prefixes (it has ``layer_count`` layers),
        shortest first."""

        def work() -> list[str]:
            params = {
                "image_repository_id": repository_id,
                "image_digest": digest,
                "layer_count": layer_count,
            }
            with self._db.reading() as conn:
                return list(conn.scalars(_PREFIXES_OF, params))

        return await self._db.read(work)

    async def announce(self, outbox: Outbox, now: datetime) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                write_outbox(conn, self._db.insert, outbox, now)

        await self._db.write(work)

    async def announced(
        self, event_type: str, since: datetime, base: tuple[str, str], tag: str, digest: str
    ) -> set[tuple[str, str, str]]:
        """(account, repository, image digest) of the images already told, by an
        ``event_type`` event at or after ``since``, that ``tag`` of ``base`` (account,
        repository) moved to ``digest``: the tag-moved job and a late detection both
        announce a move, and the second is told not to repeat it. One query of the events'
        time index (a move is seconds old when it is announced)."""

        def work() -> set[tuple[str, str, str]]:
            query = (
                sa.select(events.c.account_id, events.c.subject, events.c.data)
                .where(events.c.at >= since, events.c.type == event_type)
                .limit(MAX_DEPENDENTS)
            )
            with self._db.reading() as conn:
                rows = conn.execute(query).all()
            told: set[tuple[str, str, str]] = set()
            for account_id, subject, text in rows:
                data = json.loads(text)
                moved = (data.get("base-registry-id"), data.get("base-repository-name"), data.get("base-tag"))
                if moved == (*base, tag) and data.get("base-digest") == digest:
                    told |= {(account_id, str(subject), str(d)) for d in data.get("image-digests") or ()}
            return told

        return await self._db.run(work)

    async def left_behind(self, repository_id: int, tag: str) -> tuple[TagState, list[LineageRow]] | None:
        """What ``tag`` of the repository names now, and the tagged images built from it at
        another digest (those its move leaves behind); None when the tag is gone. One read
        (a detection asks on every tagged push)."""

        def work() -> tuple[TagState, list[LineageRow]] | None:
            with self._db.reading() as conn:
                state = tag_state_on(conn, repository_id, tag)
                if state is None:
                    return None
                params = {"repository_id": repository_id, "tag": tag, "keep": [state.digest, *state.children]}
                return state, [row_of(r) for r in conn.execute(_BUILT_FROM_TAG, params)]

        return await self._db.read(work)
