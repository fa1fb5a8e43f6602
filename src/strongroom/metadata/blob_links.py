"""Blob links and upload sessions on SQL: how blobs enter a repository.

A mixin of :class:`~strongroom.metadata.sql.SqlMetadataStore`, sharing its
:class:`Database`. An upload has one writer at a time across every process: a request
claims the session by compare-and-set on its row (``claim_upload_in``), renews the claim
while it writes, and releases it with the new size; a claim not renewed lapses, so a
process that died mid-write does not hold the session for ever.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.records import Upload
from strongroom.metadata.schema import repositories, repository_blobs, uploads

# Statements built once: building one (and its cache key) per call cost more than SQLite
# running it (bench/profile_small.py).
_LINKED_BLOB_SIZE = (
    sa.select(repository_blobs.c.size)
    .join(repositories, repositories.c.id == repository_blobs.c.repository_id)
    .where(
        repositories.c.account_id == sa.bindparam("account_id"),
        repositories.c.name == sa.bindparam("name"),
        repository_blobs.c.digest == sa.bindparam("digest"),
    )
)
_UPLOAD = sa.select(uploads).where(uploads.c.id == sa.bindparam("upload_id"))
_UPLOAD_IN = sa.select(
    uploads,
    sa.and_(
        repositories.c.account_id == sa.bindparam("account_id"), repositories.c.name == sa.bindparam("name")
    ).label("here"),
).where(uploads.c.id == sa.bindparam("upload_id"), repositories.c.id == uploads.c.repository_id)
_UPLOAD_REPOSITORY = sa.select(uploads.c.repository_id).where(uploads.c.id == sa.bindparam("upload_id"))
_NEW_UPLOAD = uploads.insert()
_DELETE_UPLOAD = uploads.delete().where(uploads.c.id == sa.bindparam("upload_id"))
_CLAIMABLE = sa.or_(uploads.c.writer.is_(None), uploads.c.updated_at < sa.bindparam("lapsed_before"))
_IN_REPOSITORY = uploads.c.repository_id == (
    sa.select(repositories.c.id)
    .where(
        repositories.c.account_id == sa.bindparam("account_id"), repositories.c.name == sa.bindparam("name")
    )
    .scalar_subquery()
)
_CLAIM = (
    uploads.update()
    .where(uploads.c.id == sa.bindparam("upload_id"), _IN_REPOSITORY, _CLAIMABLE)
    .values(writer=sa.bindparam("writer"), updated_at=sa.bindparam("now"))
)
_CLAIM_AT = (
    uploads.update()
    .where(
        uploads.c.id == sa.bindparam("upload_id"),
        _IN_REPOSITORY,
        sa.or_(
            sa.and_(uploads.c.writer.is_(None), uploads.c.size == sa.bindparam("start")),
            uploads.c.updated_at < sa.bindparam("lapsed_before"),
        ),
    )
    .values(writer=sa.bindparam("writer"), updated_at=sa.bindparam("now"))
)
_HELD = (uploads.c.id == sa.bindparam("upload_id"), uploads.c.writer == sa.bindparam("held_by"))
_RELEASE = (
    uploads.update()
    .where(*_HELD)
    .values(size=sa.bindparam("new_size"), writer=sa.null(), updated_at=sa.bindparam("now"))
)
_RENEW = uploads.update().where(*_HELD).values(updated_at=sa.bindparam("now"))


class SqlBlobLinks:
    _db: Database
    _link_statement: sa.Executable
    """The blob-link upsert, built once for the database's dialect (SqlMetadataStore)."""

    # blob links

    async def linked_blob_size(self, account_id: str, name: str, digest: str) -> int | None:
        def work() -> int | None:
            with self._db.reading() as conn:
                return conn.scalar(
                    _LINKED_BLOB_SIZE, {"account_id": account_id, "name": name, "digest": digest}
                )

        return await self._db.run(work)

    async def repositories_linking(
        self, digest: str, first_account_id: str, limit: int
    ) -> list[tuple[str, str]]:
        query = (
            sa.select(repositories.c.account_id, repositories.c.name)
            .join(repository_blobs, repositories.c.id == repository_blobs.c.repository_id)
            .where(repository_blobs.c.digest == digest)
            .order_by(
                sa.case((repositories.c.account_id == first_account_id, 0), else_=1),
                repositories.c.account_id,
                repositories.c.name,
            )
            .limit(limit)
        )

        def work() -> list[tuple[str, str]]:
            with self._db.reading() as conn:
                return [(account_id, name) for account_id, name in conn.execute(query)]

        return await self._db.run(work)

    async def link_blob(self, repository_id: int, digest: str, size: int, now: datetime) -> None:
        def work() -> None:
            with self._db.writing(effect=True) as conn:
                self._link(conn, repository_id, digest, size, now)

        await self._db.write(work)

    def _link(self, conn: sa.Connection, repository_id: int, digest: str, size: int, now: datetime) -> None:
        params = {"repository_id": repository_id, "digest": digest, "size": size, "created_at": now}
        conn.execute(self._link_statement, params)

    async def unlink_blob(self, repository_id: int, digest: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    repository_blobs.delete().where(
                        repository_blobs.c.repository_id == repository_id,
                        repository_blobs.c.digest == digest,
                    )
                )
                return result.rowcount > 0

        return await self._db.write(work)

    # uploads

    async def create_upload(self, upload: Upload) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    _NEW_UPLOAD,
                    {
                        "id": upload.id,
                        "repository_id": upload.repository_id,
                        "algorithm": upload.algorithm,
                        "created_at": upload.created_at,
                        "updated_at": upload.updated_at,
                        "size": upload.size,
                        "writer": upload.writer,
                    },
                )

        await self._db.write(work, small=True)

    async def get_upload(self, upload_id: str) -> Upload | None:
        def work() -> Upload | None:
            with self._db.reading() as conn:
                row = conn.execute(_UPLOAD, {"upload_id": upload_id}).first()
            return None if row is None else Upload(**row._mapping)

        return await self._db.run(work)

    async def get_upload_in(self, upload_id: str, account_id: str, name: str) -> tuple[Upload | None, bool]:
        def work() -> tuple[Upload | None, bool]:
            params = {"upload_id": upload_id, "account_id": account_id, "name": name}
            with self._db.reading() as conn:
                row = conn.execute(_UPLOAD_IN, params).first()
            if row is None:
                return None, False
            fields = dict(row._mapping)
            here = bool(fields.pop("here"))
            return Upload(**fields), here

        return await self._db.run(work)

    async def claim_upload_in(
        self,
        upload_id: str,
        account_id: str,
        name: str,
        writer: str,
        start: int | None,
        now: datetime,
        *,
        lapsed_before: datetime,
    ) -> bool:
        statement = _CLAIM if start is None else _CLAIM_AT
        params = {
            "upload_id": upload_id,
            "account_id": account_id,
            "name": name,
            "writer": writer,
            "now": now,
            "lapsed_before": lapsed_before,
        }
        if start is not None:
            params["start"] = start

        def work() -> bool:
            with self._db.writing() as conn:
                return conn.execute(statement, params).rowcount == 1

        return await self._db.write(work, small=True)

    async def release_upload(self, upload_id: str, writer: str, size: int, now: datetime) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                params = {"upload_id": upload_id, "held_by": writer, "new_size": size, "now": now}
                return conn.execute(_RELEASE, params).rowcount == 1

        return await self._db.write(work, small=True)

    async def renew_upload_claim(self, upload_id: str, writer: str, now: datetime) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                params = {"upload_id": upload_id, "held_by": writer, "now": now}
                return conn.execute(_RENEW, params).rowcount == 1

        return await self._db.write(work, small=True)

    async def finish_upload(self, upload_id: str, digest: str, size: int, now: datetime) -> bool:
        def work() -> bool:
            with self._db.writing(effect=True) as conn:
                repository_id = conn.scalar(_UPLOAD_REPOSITORY, {"upload_id": upload_id})
                if repository_id is None:
                    return False
                self._link(conn, repository_id, digest, size, now)
                conn.execute(_DELETE_UPLOAD, {"upload_id": upload_id})
                return True

        return await self._db.write(work, small=True)

    async def delete_upload(self, upload_id: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                return conn.execute(_DELETE_UPLOAD, {"upload_id": upload_id}).rowcount > 0

        return await self._db.write(work, small=True)

    async def count_uploads(self) -> int:
        """Upload sessions open (for metrics)."""

        def work() -> int:
            with self._db.reading() as conn:
                return int(conn.scalar(sa.select(sa.func.count()).select_from(uploads)) or 0)

        return await self._db.run(work)

    async def stale_uploads(self, updated_before: datetime) -> list[str]:
        def work() -> list[str]:
            with self._db.reading() as conn:
                return list(
                    conn.scalars(sa.select(uploads.c.id).where(uploads.c.updated_at < updated_before))
                )

        return await self._db.run(work)
