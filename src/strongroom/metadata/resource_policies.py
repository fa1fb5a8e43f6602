"""Resource policies and visibility on SQL: repository policies (the private one and ECR
Public's), the registry policy and its scope, repository visibility, and what authorization
needs of them in one read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.iam_rows import (
    REGISTRY_POLICY_SCOPE,
    bound,
)
from strongroom.metadata.principals import bind, bound_values, loads
from strongroom.metadata.records import (
    BoundPolicy,
    RepositoryAccess,
)
from strongroom.metadata.schema import (
    account_settings,
    registry_policies,
    repositories,
    repository_tags,
)


class SqlResourcePolicies:
    _db: Database

    # resource policies and visibility

    async def repository_access(self, account_id: str, name: str) -> RepositoryAccess:
        def work() -> RepositoryAccess:
            with self._db.reading() as conn:
                row = conn.execute(
                    sa.select(
                        repositories.c.id, repositories.c.policy, repositories.c.policy_principals,
                        repositories.c.public, repositories.c.public_policy,
                        repositories.c.public_policy_principals,
                    ).where(repositories.c.account_id == account_id, repositories.c.name == name)
                ).first()  # fmt: skip
                registry = conn.execute(
                    sa.select(registry_policies.c.document, registry_policies.c.principals).where(
                        registry_policies.c.account_id == account_id
                    )
                ).first()
                registry_policy = None if registry is None else BoundPolicy(registry[0], loads(registry[1]))
                scope = conn.scalar(
                    sa.select(account_settings.c.value).where(
                        account_settings.c.account_id == account_id,
                        account_settings.c.name == REGISTRY_POLICY_SCOPE,
                    )
                )
                if row is None:
                    return RepositoryAccess(None, False, registry_policy, registry_policy_scope=scope or "V2")
                tags = conn.execute(
                    sa.select(repository_tags.c.key, repository_tags.c.value)
                    .where(repository_tags.c.repository_id == row.id)
                    .order_by(repository_tags.c.key)
                ).all()
            return RepositoryAccess(
                bound(row.policy, row.policy_principals),
                bool(row.public),
                registry_policy,
                tuple((k, v) for k, v in tags),
                bound(row.public_policy, row.public_policy_principals),
                scope or "V2",
            )

        return await self._db.read(work)

    async def set_repository_policy(self, repository_id: int, document: str | None) -> None:
        await self._update_repository(repository_id, policy=document)

    async def set_repository_public(self, repository_id: int, public: bool) -> None:
        await self._update_repository(repository_id, public=public)

    async def _update_repository(self, repository_id: int, **values: Any) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                update = repositories.update().where(repositories.c.id == repository_id)
                conn.execute(update.values(**bound_values(conn, values)))

        await self._db.write(work)

    async def get_registry_policy(self, account_id: str) -> str | None:
        def work() -> str | None:
            with self._db.reading() as conn:
                return conn.scalar(
                    sa.select(registry_policies.c.document).where(
                        registry_policies.c.account_id == account_id
                    )
                )

        return await self._db.run(work)

    async def put_registry_policy(self, account_id: str, document: str | None, now: datetime) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(registry_policies.delete().where(registry_policies.c.account_id == account_id))
                if document is not None:
                    conn.execute(
                        registry_policies.insert().values(
                            account_id=account_id,
                            document=document,
                            principals=bind(conn, document),
                            updated_at=now,
                        )
                    )

        await self._db.write(work)
