"""The model index on SQL (SQLite or PostgreSQL): one row per model manifest of a
repository, its licences beside it, and the listing's filters.

A row goes with its manifest (a foreign key with ``ON DELETE CASCADE``), so every way a
manifest is deleted (OCI ``DELETE``, ``BatchDeleteImage``, a lifecycle expiry, a
repository deleted) takes its row with it, in the same transaction. Recording a model
whose manifest is already gone records nothing. Which repositories a caller may see is
decided above the store; the store lists within the repositories it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.outbox import Outbox, write_outbox
from strongroom.metadata.schema import manifests, model_licenses, models, repositories, tags

_LIMITS = {"name": 256, "version": 128, "format": 32, "architecture": 128}
_MAX_LICENSE = 128


@dataclass(frozen=True, slots=True)
class NewModel:
    repository_id: int
    digest: str
    name: str | None
    version: str | None
    format: str | None
    architecture: str | None
    parameter_count: int | None
    licenses: tuple[str, ...]
    document: dict[str, Any]
    pushed_at: datetime


@dataclass(frozen=True, slots=True)
class ModelFilter:
    """Every condition a listed model meets; None: no condition."""

    name: str | None = None
    """A substring of the model's or its repository's name (case-insensitive)."""
    name_prefix: bool = False
    """``name`` is a prefix rather than a substring."""
    format: str | None = None
    architecture: str | None = None
    license: str | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    tag: str | None = None
    pushed_since: datetime | None = None
    pushed_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelRepository:
    id: int
    account_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ModelCursor:
    """Where a page ends: the last model listed, by what the caller saw of it (never a row
    id, whose gaps would count models the caller may not see)."""

    pushed_at: datetime
    account_id: str
    repository: str
    digest: str


@dataclass(frozen=True, slots=True)
class StoredModel:
    id: int
    account_id: str
    repository: str
    digest: str
    name: str | None
    version: str | None
    format: str | None
    architecture: str | None
    parameter_count: int | None
    pushed_at: datetime
    indexed_at: datetime
    document: dict[str, Any]
    licenses: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())


class SqlModelStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, model: NewModel, now: datetime, announce: Callable[[], Outbox]) -> bool:
        """Store (or replace) the model's row and write ``announce()``'s events and jobs in
        the same transaction; False, and nothing written, when the manifest is gone."""

        def work() -> bool:
            with self._db.writing() as conn:
                exists = conn.scalar(
                    sa.select(manifests.c.digest).where(
                        manifests.c.repository_id == model.repository_id, manifests.c.digest == model.digest
                    )
                )
                if exists is None:
                    return False
                conn.execute(
                    models.delete().where(
                        models.c.repository_id == model.repository_id,
                        models.c.manifest_digest == model.digest,
                    )
                )
                values = {key: _clip(getattr(model, key), limit) for key, limit in _LIMITS.items()}
                model_id = conn.scalar(
                    models.insert()
                    .values(
                        repository_id=model.repository_id,
                        manifest_digest=model.digest,
                        parameter_count=model.parameter_count,
                        pushed_at=model.pushed_at,
                        indexed_at=now,
                        document=json.dumps(model.document, sort_keys=True),
                        **values,
                    )
                    .returning(models.c.id)
                )
                licenses = dict.fromkeys(name[:_MAX_LICENSE].lower() for name in model.licenses if name)
                if licenses:
                    conn.execute(
                        model_licenses.insert(),
                        [{"model_id": model_id, "license": name} for name in licenses],
                    )
                write_outbox(conn, self._db.insert, announce(), now)
                return True

        return await self._db.write(work)

    async def repositories(self, where: ModelFilter) -> list[ModelRepository]:
        """The repositories holding at least one model that meets ``where``."""

        def work() -> list[ModelRepository]:
            query = (
                sa.select(repositories.c.id, repositories.c.account_id, repositories.c.name)
                .distinct()
                .select_from(models.join(repositories, repositories.c.id == models.c.repository_id))
                .where(*_conditions(where))
                .order_by(repositories.c.id)
            )
            with self._db.reading() as conn:
                return [ModelRepository(*row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def page(
        self, where: ModelFilter, repository_ids: Sequence[int], *, after: ModelCursor | None, limit: int
    ) -> list[StoredModel]:
        """Models of ``repository_ids`` meeting ``where``, newest push first (then by
        account, repository and digest), those listed after ``after``."""

        def work() -> list[StoredModel]:
            if not repository_ids:
                return []
            conditions = [*_conditions(where), models.c.repository_id.in_(list(repository_ids))]
            if after is not None:
                conditions.append(_after(after))
            query = (
                sa.select(
                    models.c.id,
                    repositories.c.account_id,
                    repositories.c.name,
                    models.c.manifest_digest,
                    models.c.name,
                    models.c.version,
                    models.c.format,
                    models.c.architecture,
                    models.c.parameter_count,
                    models.c.pushed_at,
                    models.c.indexed_at,
                    models.c.document,
                    models.c.repository_id,
                )
                .select_from(models.join(repositories, repositories.c.id == models.c.repository_id))
                .where(*conditions)
                .order_by(
                    models.c.pushed_at.desc(),
                    repositories.c.account_id,
                    repositories.c.name,
                    models.c.manifest_digest,
                )
                .limit(limit)
            )
            with self._db.reading() as conn:
                rows = list(conn.execute(query))
                return [_stored(conn, row) for row in rows]

        return await self._db.run(work)


def _stored(conn: sa.Connection, row: Any) -> StoredModel:
    (model_id, account_id, repository, digest, name, version, fmt, architecture, parameters, pushed_at,
     indexed_at, document, repository_id) = row  # fmt: skip
    return StoredModel(
        model_id, account_id, repository, digest, name, version, fmt, architecture, parameters, pushed_at,
        indexed_at, json.loads(document), _licenses(conn, model_id), _tags(conn, repository_id, digest),
    )  # fmt: skip


def _after(cursor: ModelCursor) -> sa.ColumnElement[bool]:
    rest = sa.tuple_(repositories.c.account_id, repositories.c.name, models.c.manifest_digest) > sa.tuple_(
        sa.literal(cursor.account_id), sa.literal(cursor.repository), sa.literal(cursor.digest)
    )
    same = sa.and_(models.c.pushed_at == cursor.pushed_at, rest)
    return sa.or_(models.c.pushed_at < cursor.pushed_at, same)


def _conditions(where: ModelFilter) -> list[sa.ColumnElement[bool]]:
    c = models.c
    found: list[sa.ColumnElement[bool]] = []
    if where.name:
        pattern = _like(where.name.lower()) + "%"
        if not where.name_prefix:
            pattern = "%" + pattern
        found.append(
            sa.or_(
                sa.func.lower(c.name).like(pattern, escape="\\"),
                sa.func.lower(repositories.c.name).like(pattern, escape="\\"),
            )
        )
    if where.format:
        found.append(c.format == where.format.lower())
    if where.architecture:
        found.append(sa.func.lower(c.architecture) == where.architecture.lower())
    if where.min_parameters is not None:
        found.append(c.parameter_count >= where.min_parameters)
    if where.max_parameters is not None:
        found.append(c.parameter_count <= where.max_parameters)
    if where.pushed_since is not None:
        found.append(c.pushed_at >= where.pushed_since)
    if where.pushed_before is not None:
        found.append(c.pushed_at < where.pushed_before)
    if where.license:
        found.append(
            sa.exists().where(
                model_licenses.c.model_id == c.id, model_licenses.c.license == where.license.lower()
            )
        )
    if where.tag:
        found.append(
            sa.exists().where(
                tags.c.repository_id == c.repository_id,
                tags.c.manifest_digest == c.manifest_digest,
                tags.c.name == where.tag,
            )
        )
    return found


def _licenses(conn: sa.Connection, model_id: int) -> tuple[str, ...]:
    query = sa.select(model_licenses.c.license).where(model_licenses.c.model_id == model_id)
    return tuple(conn.scalars(query.order_by(model_licenses.c.license)))


def _tags(conn: sa.Connection, repository_id: int, digest: str) -> tuple[str, ...]:
    query = sa.select(tags.c.name).where(
        tags.c.repository_id == repository_id, tags.c.manifest_digest == digest
    )
    return tuple(conn.scalars(query.order_by(tags.c.name)))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _clip(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
