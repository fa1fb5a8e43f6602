"""Repository management on SQL: creating, listing and deleting repositories with their
settings, resource tags, lifecycle policy and preview, and the per-account settings and
creation templates of the ECR API.

The OCI core (blob links, manifests, tags) lives in :mod:`strongroom.metadata.sql`;
this store shares its tables and its :class:`Database`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.errors import NameUnknown, RepositoryAlreadyExists, RepositoryNotEmpty, TooManyTags
from strongroom.metadata.database import Database
from strongroom.metadata.image_deletions import announce_repository_images
from strongroom.metadata.outbox import DeletionOutbox
from strongroom.metadata.principals import bound_values
from strongroom.metadata.records import Repository
from strongroom.metadata.schema import (
    account_settings,
    accounts,
    creation_templates,
    lifecycle_previews,
    manifests,
    repositories,
    repository_tags,
)
from strongroom.metadata.sql import REPOSITORY_COLUMNS, repository_from_row

MAX_RESOURCE_TAGS = 50


@dataclass(frozen=True, slots=True)
class NewRepository:
    account_id: str
    name: str
    tag_mutability: str = "MUTABLE"
    tag_mutability_filters: tuple[str, ...] = ()
    scan_on_push: bool = False
    encryption_type: str = "AES256"
    kms_key: str | None = None
    policy: str | None = None
    lifecycle_policy: str | None = None
    public: bool = False
    catalog_data: str | None = None


@dataclass(frozen=True, slots=True)
class RepositoryDocuments:
    """The documents a repository carries besides its settings."""

    policy: str | None
    lifecycle_policy: str | None
    lifecycle_evaluated_at: datetime | None
    public: bool
    catalog_data: str | None
    public_policy: str | None = None
    """The policy set through ECR Public (docs/adr/0004)."""


@dataclass(frozen=True, slots=True)
class LifecyclePreview:
    policy: str
    status: str
    results: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CreationTemplate:
    prefix: str
    document: str
    """The template's members as JSON (ECR ``RepositoryCreationTemplate`` names)."""
    created_at: datetime
    updated_at: datetime


class SqlRepositoryStore:
    def __init__(self, database: Database, deletions: DeletionOutbox | None = None) -> None:
        """``deletions`` says what an image deleted with its repository causes (its
        ``image.delete`` event), written in the repository's deletion transaction."""
        self._db = database
        self._deletions = deletions

    # repositories

    async def create_repository(
        self, repository: NewRepository, resource_tags: Mapping[str, str], now: datetime
    ) -> Repository:
        """Create the repository with its settings and tags in one transaction."""
        if len(resource_tags) > MAX_RESOURCE_TAGS:
            raise TooManyTags(f"a repository carries at most {MAX_RESOURCE_TAGS} tags")
        values = {
            "account_id": repository.account_id,
            "name": repository.name,
            "created_at": now,
            "tag_mutability": repository.tag_mutability,
            "tag_mutability_filters": _filters_json(repository.tag_mutability_filters),
            "scan_on_push": repository.scan_on_push,
            "encryption_type": repository.encryption_type,
            "kms_key": repository.kms_key,
            "policy": repository.policy,
            "lifecycle_policy": repository.lifecycle_policy,
            "public": repository.public,
            "catalog_data": repository.catalog_data,
        }

        def work() -> Repository:
            with self._db.writing() as conn:
                if (
                    conn.scalar(sa.select(accounts.c.id).where(accounts.c.id == repository.account_id))
                    is None
                ):
                    raise NameUnknown(f"{repository.account_id}/{repository.name}")
                inserted = conn.execute(
                    self._db.insert(repositories)
                    .values(**bound_values(conn, values))
                    .on_conflict_do_nothing()
                    .returning(repositories.c.id)
                ).scalar()
                if inserted is None:
                    raise RepositoryAlreadyExists(repository.account_id, repository.name)
                if resource_tags:
                    conn.execute(
                        repository_tags.insert(),
                        [{"repository_id": inserted, "key": k, "value": v} for k, v in resource_tags.items()],
                    )
                row = conn.execute(sa.select(*REPOSITORY_COLUMNS).where(repositories.c.id == inserted)).one()
                return repository_from_row(row)

        return await self._db.write(work)

    async def list_repositories(
        self,
        account_id: str,
        *,
        names: Sequence[str] | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[Repository]:
        """Repositories in name order: the named ones, or a page of all after ``after``."""

        def work() -> list[Repository]:
            query = sa.select(*REPOSITORY_COLUMNS).where(repositories.c.account_id == account_id)
            if names is not None:
                query = query.where(repositories.c.name.in_(list(names)))
            if after is not None:
                query = query.where(repositories.c.name > after)
            with self._db.reading() as conn:
                rows = conn.execute(query.order_by(repositories.c.name).limit(limit)).all()
            return [repository_from_row(row) for row in rows]

        return await self._db.run(work)

    async def delete_repository(
        self, account_id: str, name: str, *, force: bool, now: datetime
    ) -> Repository:
        """Delete the repository (its manifests, tags, links and uploads go with it).
        Without ``force`` a repository holding images is refused; with it, each image
        deleted is announced as a deletion of its own would be."""

        def work() -> Repository:
            with self._db.writing() as conn:
                row = conn.execute(
                    sa.select(*REPOSITORY_COLUMNS).where(
                        repositories.c.account_id == account_id, repositories.c.name == name
                    )
                ).first()
                if row is None:
                    raise NameUnknown(name)
                if not force:
                    holds_images = conn.scalar(
                        sa.select(manifests.c.digest).where(manifests.c.repository_id == row.id).limit(1)
                    )
                    if holds_images is not None:
                        raise RepositoryNotEmpty(account_id, name)
                else:
                    announce_repository_images(conn, self._db.insert, self._deletions, row.id, now)
                conn.execute(repositories.delete().where(repositories.c.id == row.id))
                return repository_from_row(row)

        return await self._db.write(work)

    async def update_repository(self, repository_id: int, **values: Any) -> None:
        """Change settings columns; ``tag_mutability_filters`` takes a tuple of patterns."""
        if "tag_mutability_filters" in values:
            values["tag_mutability_filters"] = _filters_json(values["tag_mutability_filters"])

        def work() -> None:
            with self._db.writing() as conn:
                update = repositories.update().where(repositories.c.id == repository_id)
                conn.execute(update.values(**bound_values(conn, values)))

        await self._db.write(work)

    async def repository_documents(self, repository_id: int) -> RepositoryDocuments:
        def work() -> RepositoryDocuments:
            with self._db.reading() as conn:
                row = conn.execute(
                    sa.select(
                        repositories.c.policy,
                        repositories.c.lifecycle_policy,
                        repositories.c.lifecycle_evaluated_at,
                        repositories.c.public,
                        repositories.c.catalog_data,
                        repositories.c.public_policy,
                    ).where(repositories.c.id == repository_id)
                ).one()
            return RepositoryDocuments(row[0], row[1], row[2], bool(row[3]), row[4], row[5])

        return await self._db.run(work)

    async def repositories_with_lifecycle_policies(self) -> list[Repository]:
        def work() -> list[Repository]:
            query = sa.select(*REPOSITORY_COLUMNS).where(repositories.c.lifecycle_policy.is_not(None))
            with self._db.reading() as conn:
                return [repository_from_row(row) for row in conn.execute(query.order_by(repositories.c.id))]

        return await self._db.run(work)

    # resource tags

    async def resource_tags(self, repository_id: int) -> dict[str, str]:
        def work() -> dict[str, str]:
            query = sa.select(repository_tags.c.key, repository_tags.c.value).where(
                repository_tags.c.repository_id == repository_id
            )
            with self._db.reading() as conn:
                return {key: value for key, value in conn.execute(query.order_by(repository_tags.c.key))}

        return await self._db.run(work)

    async def tag_repository(self, repository_id: int, new_tags: Mapping[str, str]) -> None:
        """Add or overwrite tags; the others stay. Refused past :data:`MAX_RESOURCE_TAGS`."""

        def work() -> None:
            with self._db.writing() as conn:
                existing = set(
                    conn.scalars(
                        sa.select(repository_tags.c.key).where(
                            repository_tags.c.repository_id == repository_id
                        )
                    )
                )
                if len(existing | set(new_tags)) > MAX_RESOURCE_TAGS:
                    raise TooManyTags(f"a repository carries at most {MAX_RESOURCE_TAGS} tags")
                for key, value in new_tags.items():
                    statement = self._db.insert(repository_tags).values(
                        repository_id=repository_id, key=key, value=value
                    )
                    conn.execute(
                        statement.on_conflict_do_update(
                            index_elements=[repository_tags.c.repository_id, repository_tags.c.key],
                            set_={"value": value},
                        )
                    )

        await self._db.write(work)

    async def untag_repository(self, repository_id: int, keys: Sequence[str]) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    repository_tags.delete().where(
                        repository_tags.c.repository_id == repository_id,
                        repository_tags.c.key.in_(list(keys)),
                    )
                )

        await self._db.write(work)

    # lifecycle previews

    async def put_lifecycle_preview(self, repository_id: int, preview: LifecyclePreview) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    lifecycle_previews.delete().where(lifecycle_previews.c.repository_id == repository_id)
                )
                conn.execute(
                    lifecycle_previews.insert().values(
                        repository_id=repository_id,
                        policy=preview.policy,
                        status=preview.status,
                        results=preview.results,
                        created_at=preview.created_at,
                    )
                )

        await self._db.write(work)

    async def lifecycle_preview(self, repository_id: int) -> LifecyclePreview | None:
        def work() -> LifecyclePreview | None:
            query = sa.select(
                lifecycle_previews.c.policy,
                lifecycle_previews.c.status,
                lifecycle_previews.c.results,
                lifecycle_previews.c.created_at,
            ).where(lifecycle_previews.c.repository_id == repository_id)
            with self._db.reading() as conn:
                row = conn.execute(query).first()
            return None if row is None else LifecyclePreview(*row)

        return await self._db.run(work)

    # account settings

    async def account_setting(self, account_id: str, name: str) -> str | None:
        def work() -> str | None:
            with self._db.reading() as conn:
                return conn.scalar(
                    sa.select(account_settings.c.value).where(
                        account_settings.c.account_id == account_id, account_settings.c.name == name
                    )
                )

        return await self._db.run(work)

    async def put_account_setting(self, account_id: str, name: str, value: str | None, now: datetime) -> None:
        """Set a setting, or with None remove it."""

        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    account_settings.delete().where(
                        account_settings.c.account_id == account_id, account_settings.c.name == name
                    )
                )
                if value is not None:
                    conn.execute(
                        account_settings.insert().values(
                            account_id=account_id, name=name, value=value, updated_at=now
                        )
                    )

        await self._db.write(work)

    # creation templates

    async def creation_templates(self, account_id: str) -> list[CreationTemplate]:
        def work() -> list[CreationTemplate]:
            query = sa.select(
                creation_templates.c.prefix,
                creation_templates.c.document,
                creation_templates.c.created_at,
                creation_templates.c.updated_at,
            ).where(creation_templates.c.account_id == account_id)
            with self._db.reading() as conn:
                return [
                    CreationTemplate(*row)
                    for row in conn.execute(query.order_by(creation_templates.c.prefix))
                ]

        return await self._db.run(work)

    async def create_creation_template(self, account_id: str, template: CreationTemplate) -> bool:
        """False when a template with that prefix exists."""

        def work() -> bool:
            with self._db.writing() as conn:
                inserted = conn.execute(
                    self._db.insert(creation_templates)
                    .values(
                        account_id=account_id,
                        prefix=template.prefix,
                        document=template.document,
                        created_at=template.created_at,
                        updated_at=template.updated_at,
                    )
                    .on_conflict_do_nothing()
                    .returning(creation_templates.c.prefix)
                ).first()
                return inserted is not None

        return await self._db.write(work)

    async def update_creation_template(
        self, account_id: str, prefix: str, document: str, now: datetime
    ) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    creation_templates.update()
                    .where(
                        creation_templates.c.account_id == account_id, creation_templates.c.prefix == prefix
                    )
                    .values(document=document, updated_at=now)
                )
                return result.rowcount > 0

        return await self._db.write(work)

    async def delete_creation_template(self, account_id: str, prefix: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    creation_templates.delete().where(
                        creation_templates.c.account_id == account_id, creation_templates.c.prefix == prefix
                    )
                )
                return result.rowcount > 0

        return await self._db.write(work)


def _filters_json(filters: tuple[str, ...]) -> str | None:
    return json.dumps(list(filters)) if filters else None
