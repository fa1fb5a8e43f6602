"""The registry's metadata on SQL (SQLite or PostgreSQL) through SQLAlchemy 2 Core:
accounts, repositories, manifests, tags, and users; blob links and uploads come from
:class:`~strongroom.metadata.blob_links.SqlBlobLinks`."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.errors import ManifestBlobUnknown, NameUnknown, TagImmutable
from strongroom.metadata.blob_links import SqlBlobLinks
from strongroom.metadata.database import Database
from strongroom.metadata.outbox import ManifestChange, ManifestOutbox, write_outbox
from strongroom.metadata.records import (
    Account,
    ManifestLookup,
    NewManifest,
    Referrer,
    Repository,
    StoredManifest,
)
from strongroom.metadata.replication import mark_in_progress
from strongroom.metadata.scans import mark_made_by_registry, mark_pending
from strongroom.metadata.schema import (
    account_settings,
    accounts,
    lineage_policies,
    manifest_references,
    manifests,
    pull_policies,
    repositories,
    repository_blobs,
    tags,
    webhooks,
)

_SUBSCRIBED = (
    sa.exists()
    .where(webhooks.c.account_id == repositories.c.account_id, webhooks.c.enabled)
    .label("subscribed")
)
"""Whether the repository's account has an enabled webhook subscription: a column of the
push's first statement (:data:`_REPOSITORY_FOR_PUSH`), not a statement of its own, which
cost the outbox about a third of its price."""

_SCANNING = (
    sa.select(account_settings.c.value)
    .where(account_settings.c.account_id == repositories.c.account_id, account_settings.c.name == "scanning")
    .scalar_subquery()
    .label("scanning")
)
"""The account's registry scanning rules, read in the same statement as the repository
a push locks (a subquery in the select list: the row lock covers the repository only)."""

_REPLICATION = (
    sa.select(account_settings.c.value)
    .where(
        account_settings.c.account_id == repositories.c.account_id, account_settings.c.name == "replication"
    )
    .scalar_subquery()
    .label("replication")
)
"""The account's replication configuration, read as :data:`_SCANNING` is."""


class SqlMetadataStore(SqlBlobLinks):
    def __init__(self, database: Database, outbox: ManifestOutbox | None = None) -> None:
        """``outbox`` says which events and jobs a pushed image causes; they are
        written in the push's transaction."""
        self._db = database
        self._outbox = outbox
        # Linking again refreshes the time: garbage collection spares links younger than its grace.
        link = database.insert(repository_blobs)
        self._link_statement = link.on_conflict_do_update(
            index_elements=[repository_blobs.c.repository_id, repository_blobs.c.digest],
            set_={"created_at": link.excluded.created_at},
        )
        # A push's statements, built once (see _BY_NAME below): built per push, with
        # ``excluded`` aliasing the tags table each time, they cost more than running them.
        self._insert_manifest = (
            database.insert(manifests)
            .on_conflict_do_nothing()
            # rowcount is unreliable for INSERT on psycopg; RETURNING is not.
            .returning(manifests.c.digest)
        )
        self._insert_references = database.insert(manifest_references).on_conflict_do_nothing()
        # A client's push of a manifest a replication stored makes it the client's.
        self._clear_replicated = (
            manifests.update()
            .where(
                manifests.c.repository_id == sa.bindparam("held_in"),
                manifests.c.digest == sa.bindparam("held_digest"),
                manifests.c.replicated,
            )
            .values(replicated=False)
        )
        point = database.insert(tags)
        # A tag already on the manifest is left as it is, and RETURNING then yields no row.
        self._point_tag_statement = point.on_conflict_do_update(
            index_elements=[tags.c.repository_id, tags.c.name],
            set_={"manifest_digest": point.excluded.manifest_digest, "updated_at": point.excluded.updated_at},
            where=tags.c.manifest_digest != point.excluded.manifest_digest,
        ).returning(tags.c.name)

    @property
    def database(self) -> Database:
        return self._db

    def close(self) -> None:
        self._db.close()

    async def ping(self) -> None:
        def work() -> None:
            with self._db.reading() as conn:
                conn.execute(sa.text("SELECT 1"))

        await self._db.run(work)

    # accounts

    async def default_account_id(self) -> str | None:
        def work() -> str | None:
            with self._db.reading() as conn:
                return conn.scalar(sa.select(accounts.c.id).where(accounts.c.is_default))

        return await self._db.run(work)

    async def create_default_account(self, account_id: str, now: datetime) -> str:
        def work() -> str:
            with self._db.writing() as conn:
                existing = conn.scalar(sa.select(accounts.c.id).where(accounts.c.is_default))
                if existing is not None:
                    return str(existing)
                conn.execute(accounts.insert().values(id=account_id, is_default=True, created_at=now))
                return account_id

        return await self._db.write(work)

    async def create_account(self, account_id: str, now: datetime) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                inserted = conn.execute(
                    self._db.insert(accounts)
                    .values(id=account_id, is_default=False, created_at=now)
                    .on_conflict_do_nothing()
                    .returning(accounts.c.id)
                ).first()
                return inserted is not None

        return await self._db.write(work)

    async def list_accounts(self) -> list[Account]:
        def work() -> list[Account]:
            with self._db.reading() as conn:
                rows = conn.execute(sa.select(accounts).order_by(accounts.c.id))
                return [Account(row.id, row.is_default, row.created_at) for row in rows]

        return await self._db.run(work)

    # repositories

    async def get_repository(self, account_id: str, name: str) -> Repository | None:
        def work() -> Repository | None:
            with self._db.reading() as conn:
                return _repository(conn, account_id, name)

        return await self._db.read(work)

    async def ensure_repository(self, account_id: str, name: str, now: datetime) -> Repository:
        def work() -> Repository:
            existing = self._sync_get_repository(account_id, name)
            if existing is not None:
                return existing
            with self._db.writing() as conn:
                if conn.scalar(sa.select(accounts.c.id).where(accounts.c.id == account_id)) is None:
                    raise NameUnknown(f"{account_id}/{name}")
                conn.execute(
                    self._db.insert(repositories)
                    .values(account_id=account_id, name=name, created_at=now)
                    .on_conflict_do_nothing()
                )
                repository = _repository(conn, account_id, name)
                assert repository is not None
                return repository

        return await self._db.write(work)

    def _sync_get_repository(self, account_id: str, name: str) -> Repository | None:
        with self._db.reading() as conn:
            return _repository(conn, account_id, name)

    async def list_repository_names(self, account_id: str, last: str | None, limit: int) -> list[str]:
        def work() -> list[str]:
            query = sa.select(repositories.c.name).where(repositories.c.account_id == account_id)
            if last is not None:
                query = query.where(repositories.c.name > last)
            with self._db.reading() as conn:
                return list(conn.scalars(query.order_by(repositories.c.name).limit(limit)))

        return await self._db.read(work)

    # manifests and tags

    async def put_manifest(
        self,
        repository_id: int,
        manifest: NewManifest,
        tag_names: Sequence[str],
        now: datetime,
        *,
        immutable_tags: Collection[str] = (),
    ) -> bool:
        assert not isinstance(tag_names, str), "tag_names is a sequence of tags, not one tag"

        def work() -> bool:
            with self._db.writing(effect=True) as conn:
                # PostgreSQL: excludes garbage collection's unlinking in this repository
                # (FOR UPDATE, registry/gc.py) between checking references and storing them.
                repository = conn.execute(
                    _REPOSITORY_FOR_PUSH if self._outbox is None else _REPOSITORY_FOR_PUSH_SUBSCRIBED,
                    {"repository_id": repository_id},
                ).first()
                _require_references(conn, repository_id, manifest)
                repository_name = "" if repository is None else repository.name
                _keep_immutable_tags(conn, repository_id, repository_name, manifest.digest, immutable_tags)
                created = (
                    conn.execute(
                        self._insert_manifest,
                        {
                            "repository_id": repository_id,
                            "digest": manifest.digest,
                            "media_type": manifest.media_type,
                            "size": len(manifest.content),
                            "content": manifest.content,
                            "subject_digest": manifest.subject_digest,
                            "artifact_type": manifest.artifact_type,
                            "annotations": manifest.annotations_json,
                            "created_at": now,
                            "replicated": manifest.replicated,
                        },
                    ).first()
                    is not None
                )
                if not created and not manifest.replicated:
                    conn.execute(
                        self._clear_replicated, {"held_in": repository_id, "held_digest": manifest.digest}
                    )
                if created:
                    references = [
                        {"child_digest": d, "kind": "blob"} for d in dict.fromkeys(manifest.blob_digests)
                    ] + [
                        {"child_digest": d, "kind": "manifest"} for d in dict.fromkeys(manifest.child_digests)
                    ]
                    if references:
                        conn.execute(
                            self._insert_references,
                            [
                                {"repository_id": repository_id, "manifest_digest": manifest.digest, **row}
                                for row in references
                            ],
                        )
                moved = [
                    tag
                    for tag in dict.fromkeys(tag_names)
                    if self._point_tag(conn, repository_id, tag, manifest.digest, now)
                ]
                if repository is not None:
                    # One push event per tag it moved (ECR's image action names one tag), or
                    # one untagged event for a new manifest pushed by digest.
                    announced: list[str | None] = [*moved] or ([None] if created else [])
                    for tag in announced:
                        self._announce_push(conn, repository_id, repository, manifest, tag, created, now)
                return created

        return await self._db.write(work, small=True)

    def _point_tag(
        self, conn: sa.Connection, repository_id: int, tag: str, digest: str, now: datetime
    ) -> bool:
        """Point the tag at the manifest; True when the tag is new or moved (a tag already
        on the manifest is left as it is, and RETURNING then yields no row)."""
        moved = conn.execute(
            self._point_tag_statement,
            {"repository_id": repository_id, "name": tag, "manifest_digest": digest, "updated_at": now},
        ).first()
        return moved is not None

    def _announce_push(
        self,
        conn: sa.Connection,
        repository_id: int,
        repository: Any,
        manifest: NewManifest,
        tag: str | None,
        created: bool,
        now: datetime,
    ) -> None:
        """Write the events and jobs a pushed image causes, in the push's transaction."""
        if manifest.made_by_registry:
            mark_made_by_registry(conn, self._db.insert, repository_id, manifest.digest, now)
        if self._outbox is None:
            return
        change = ManifestChange(
            account_id=repository.account_id,
            repository=repository.name,
            digest=manifest.digest,
            media_type=manifest.media_type,
            tag=tag,
            created=created,
            artifact_type=manifest.artifact_type,
            subject_digest=manifest.subject_digest,
            at=now,
            subscribed=bool(repository.subscribed),
            scan_on_push=bool(repository.scan_on_push),
            scanning=repository.scanning,
            replication=repository.replication,
            made_by_registry=manifest.made_by_registry,
            replicated=manifest.replicated,
        )
        outbox = self._outbox(change)
        write_outbox(conn, self._db.insert, outbox, now)
        if outbox.pending_scan:
            mark_pending(conn, self._db.insert, repository_id, manifest.digest, now)
        if outbox.replicating:
            mark_in_progress(conn, self._db.insert, repository_id, manifest.digest, outbox.replicating, now)

    async def lookup_manifest(
        self, account_id: str, name: str, *, tag: str | None = None, digest: str | None = None
    ) -> ManifestLookup:
        def work() -> ManifestLookup:
            with self._db.reading() as conn:
                return _lookup_manifest(conn, account_id, name, tag, digest)

        return await self._db.read(work)

    async def find_blob(
        self, account_id: str, name: str, digest: str
    ) -> tuple[int | None, ManifestLookup | None]:
        def work() -> tuple[int | None, ManifestLookup | None]:
            params = {"account_id": account_id, "name": name, "digest": digest}
            with self._db.reading() as conn:
                row = conn.execute(_BLOB_OR_MANIFEST, params).first()
            if row is None:
                return None, ManifestLookup(False, None)
            if row.blob_size is not None:
                return row.blob_size, None
            return None, _lookup_found(row)

        return await self._db.read(work)

    async def record_pull(
        self, account_id: str, name: str, digest: str, now: datetime, *, unless_since: datetime
    ) -> None:
        repository_id = (
            sa.select(repositories.c.id)
            .where(repositories.c.account_id == account_id, repositories.c.name == name)
            .scalar_subquery()
        )
        statement = (
            manifests.update()
            .where(
                manifests.c.repository_id == repository_id,
                manifests.c.digest == digest,
                sa.or_(manifests.c.last_pulled_at.is_(None), manifests.c.last_pulled_at < unless_since),
            )
            .values(last_pulled_at=now)
        )

        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(statement)

        await self._db.write(work)

    async def delete_manifest(self, repository_id: int, digest: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    manifests.delete().where(
                        manifests.c.repository_id == repository_id, manifests.c.digest == digest
                    )
                )
                return result.rowcount > 0

        return await self._db.write(work)

    async def delete_tag(self, repository_id: int, tag: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    tags.delete().where(tags.c.repository_id == repository_id, tags.c.name == tag)
                )
                return result.rowcount > 0

        return await self._db.write(work)

    async def list_tags(self, account_id: str, name: str, last: str | None, limit: int) -> list[str] | None:
        def work() -> list[str] | None:
            params = {"account_id": account_id, "name": name, "last": last, "limit": limit}
            with self._db.reading() as conn:
                # all(): one fetchall, where iterating fetched row by row (a third slower for 100 tags)
                page = list(conn.scalars(_TAGS if last is None else _TAGS_AFTER, params).all())
                if not page and conn.scalar(_REPOSITORY_ID, params) is None:
                    return None
                return page

        return await self._db.read(work)

    async def list_referrers(
        self, repository_id: int, subject_digest: str, artifact_type: str | None
    ) -> list[Referrer]:
        def work() -> list[Referrer]:
            query = sa.select(
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.size,
                manifests.c.artifact_type,
                manifests.c.annotations,
            ).where(manifests.c.repository_id == repository_id, manifests.c.subject_digest == subject_digest)
            if artifact_type is not None:
                query = query.where(manifests.c.artifact_type == artifact_type)
            with self._db.reading() as conn:
                return [Referrer(*row) for row in conn.execute(query.order_by(manifests.c.digest))]

        return await self._db.run(work)


REPOSITORY_COLUMNS = (
    repositories.c.id,
    repositories.c.account_id,
    repositories.c.name,
    repositories.c.created_at,
    repositories.c.tag_mutability,
    repositories.c.tag_mutability_filters,
    repositories.c.scan_on_push,
    repositories.c.encryption_type,
    repositories.c.kms_key,
)


def repository_from_row(row: Any) -> Repository:
    """A :class:`Repository` from a row selecting :data:`REPOSITORY_COLUMNS`."""
    filters = tuple(json.loads(row.tag_mutability_filters)) if row.tag_mutability_filters else ()
    return Repository(
        row.id, row.account_id, row.name, row.created_at, row.tag_mutability, filters,
        bool(row.scan_on_push), row.encryption_type, row.kms_key,
    )  # fmt: skip


# The statements every request runs are built once, here, with bound parameters: built per
# call, constructing one and computing its cache key cost SQLAlchemy more CPU than SQLite
# spent running it.
_BY_NAME = (
    repositories.c.account_id == sa.bindparam("account_id"),
    repositories.c.name == sa.bindparam("name"),
)
_ENFORCED_PATCH_POLICY = sa.exists().where(
    lineage_policies.c.account_id == repositories.c.account_id, lineage_policies.c.enforce
)
_REPOSITORY = sa.select(*REPOSITORY_COLUMNS, _ENFORCED_PATCH_POLICY.label("push_gated")).where(*_BY_NAME)
_REPOSITORY_ID = sa.select(repositories.c.id).where(*_BY_NAME)
_ACCOUNT_GATED = sa.or_(
    sa.exists().where(pull_policies.c.account_id == repositories.c.account_id),
    _ENFORCED_PATCH_POLICY,
)
"""Whether the account has any pull policy or enforced patch policy (their unique indexes
answer)."""
_REPOSITORY_FOR_PUSH = (
    sa.select(repositories.c.account_id, repositories.c.name)
    .where(repositories.c.id == sa.bindparam("repository_id"))
    .with_for_update(read=True, key_share=True)
)
_REPOSITORY_FOR_PUSH_SUBSCRIBED = _REPOSITORY_FOR_PUSH.add_columns(
    repositories.c.scan_on_push, _SCANNING, _REPLICATION, _SUBSCRIBED
)
"""With what decides the push's outbox: whether it queues a scan, whether anyone is subscribed."""
_GATED_IF_FOUND = sa.case((manifests.c.digest.is_not(None), _ACCOUNT_GATED), else_=sa.false()).label("gated")
"""Whether the pull gate judges the manifest: computed only when one is found."""
_MANIFEST_COLUMNS = (
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.content,
    manifests.c.last_pulled_at,
)
_MANIFEST_BY_DIGEST = (
    _REPOSITORY_ID.add_columns(_GATED_IF_FOUND, *_MANIFEST_COLUMNS)
    .select_from(repositories)
    .outerjoin(
        manifests,
        sa.and_(manifests.c.repository_id == repositories.c.id, manifests.c.digest == sa.bindparam("digest")),
    )
)
"""A manifest lookup in one statement: the repository (none: no row), whether the pull
gate judges it, and the manifest (all NULL when there is none)."""
_MANIFEST_BY_TAG = (
    _REPOSITORY_ID.add_columns(_GATED_IF_FOUND, *_MANIFEST_COLUMNS)
    .select_from(repositories)
    .outerjoin(tags, sa.and_(tags.c.repository_id == repositories.c.id, tags.c.name == sa.bindparam("tag")))
    .outerjoin(
        manifests,
        sa.and_(
            manifests.c.repository_id == tags.c.repository_id, manifests.c.digest == tags.c.manifest_digest
        ),
    )
)

_BLOB_OR_MANIFEST = _MANIFEST_BY_DIGEST.add_columns(
    # Only a manifest found is judged by the pull gate (_GATED_IF_FOUND): a blob's read does
    # not pay for it.
    sa.select(repository_blobs.c.size)
    .where(
        repository_blobs.c.repository_id == repositories.c.id,
        repository_blobs.c.digest == sa.bindparam("digest"),
    )
    .scalar_subquery()
    .label("blob_size"),
)
"""A blob request in one statement: the repository (and whether it is gated), the blob's
size if linked, else the manifest of that digest (``/blobs/`` serves manifests too): a
HEAD of a missing blob, which every push asks before each layer, reads once."""

_LINKED_BLOBS = sa.select(repository_blobs.c.digest).where(
    repository_blobs.c.repository_id == sa.bindparam("repository_id"),
    repository_blobs.c.digest.in_(sa.bindparam("digests", expanding=True)),
)
_STORED_MANIFESTS = sa.select(manifests.c.digest).where(
    manifests.c.repository_id == sa.bindparam("repository_id"),
    manifests.c.digest.in_(sa.bindparam("digests", expanding=True)),
)
_TAGS = (
    sa.select(tags.c.name)
    .join_from(tags, repositories, tags.c.repository_id == repositories.c.id)
    .where(*_BY_NAME)
    .order_by(tags.c.name)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
"""A page of a repository's tags by its name: one statement (an empty page asks
:data:`_REPOSITORY_ID` whether the repository exists)."""
_TAGS_AFTER = _TAGS.where(tags.c.name > sa.bindparam("last"))


def _repository(conn: sa.Connection, account_id: str, name: str) -> Repository | None:
    row = conn.execute(_REPOSITORY, {"account_id": account_id, "name": name}).first()
    return None if row is None else replace(repository_from_row(row), push_gated=bool(row.push_gated))


def _keep_immutable_tags(
    conn: sa.Connection, repository_id: int, repository_name: str, digest: str, immutable: Collection[str]
) -> None:
    """Raise ``TagImmutable`` for the first of ``immutable`` that points elsewhere."""
    if not immutable:
        return
    moved = conn.scalar(
        sa.select(tags.c.name)
        .where(
            tags.c.repository_id == repository_id,
            tags.c.name.in_(sorted(immutable)),
            tags.c.manifest_digest != digest,
        )
        .order_by(tags.c.name)
        .limit(1)
    )
    if moved is not None:
        raise TagImmutable(moved, repository_name)


def _require_references(conn: sa.Connection, repository_id: int, manifest: NewManifest) -> None:
    missing: list[str] = []
    blobs = set(manifest.blob_digests)
    if blobs:
        present = set(conn.scalars(_LINKED_BLOBS, {"repository_id": repository_id, "digests": list(blobs)}))
        missing += [d for d in dict.fromkeys(manifest.blob_digests) if d not in present]
    children = set(manifest.child_digests)
    if children:
        present = set(
            conn.scalars(_STORED_MANIFESTS, {"repository_id": repository_id, "digests": list(children)})
        )
        missing += [d for d in dict.fromkeys(manifest.child_digests) if d not in present]
    if missing:
        raise ManifestBlobUnknown(missing)


def _lookup_manifest(
    conn: sa.Connection, account_id: str, name: str, tag: str | None, digest: str | None
) -> ManifestLookup:
    params = {"account_id": account_id, "name": name}
    if tag is not None:
        row = conn.execute(_MANIFEST_BY_TAG, {**params, "tag": tag}).first()
    else:
        row = conn.execute(_MANIFEST_BY_DIGEST, {**params, "digest": digest}).first()
    return ManifestLookup(False, None) if row is None else _lookup_found(row)


def _lookup_found(row: sa.Row[Any]) -> ManifestLookup:
    """A row of :data:`_MANIFEST_BY_TAG`, :data:`_MANIFEST_BY_DIGEST` or
    :data:`_BLOB_OR_MANIFEST`: the repository exists; the manifest, when found."""
    manifest = None
    if row.digest is not None:
        manifest = StoredManifest(row.digest, row.media_type, row.content, row.last_pulled_at)
    return ManifestLookup(True, manifest, row.id, bool(row.gated))
