"""Identities and policies on SQL: users, roles, access keys (long-term and temporary),
inline and managed policies, repository and registry policies, repository visibility."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from strongroom.errors import Conflict
from strongroom.metadata.database import Database
from strongroom.metadata.principals import bind, bound_values, loads
from strongroom.metadata.records import (
    AccessKey,
    BoundPolicy,
    ManagedPolicy,
    RepositoryAccess,
    Role,
    TemporaryCredential,
    User,
)
from strongroom.metadata.schema import (
    access_keys,
    account_settings,
    inline_policies,
    managed_policies,
    policy_attachments,
    registry_policies,
    repositories,
    repository_tags,
    roles,
    users,
)

PrincipalKind = Literal["user", "role"]
REGISTRY_POLICY_SCOPE = "REGISTRY_POLICY_SCOPE"
"""The ECR account setting that says which actions the registry policy governs."""

_USER_COLUMNS = (
    users.c.id,
    users.c.account_id,
    users.c.name,
    users.c.user_id,
    users.c.path,
    users.c.password_hash,
    users.c.credential_version,
    users.c.created_at,
)

_ROLE_COLUMNS = (
    roles.c.id,
    roles.c.account_id,
    roles.c.name,
    roles.c.role_id,
    roles.c.path,
    roles.c.trust_policy,
    roles.c.description,
    roles.c.max_session_seconds,
    roles.c.created_at,
    roles.c.trust_principals,
)


class SqlIamStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # users

    async def create_user(
        self,
        account_id: str,
        name: str,
        *,
        user_id: str,
        now: datetime,
        path: str = "/",
        password_hash: str | None = None,
    ) -> User:
        def work() -> User:
            with self._db.writing() as conn:
                if _user(conn, account_id, name) is not None:
                    raise Conflict(f"User with name {name} already exists.")
                pk = conn.execute(
                    users.insert()
                    .values(
                        account_id=account_id, name=name, user_id=user_id, path=path,
                        password_hash=password_hash, credential_version=1, created_at=now,
                    )
                    .returning(users.c.id)
                ).scalar_one()  # fmt: skip
            return User(pk, account_id, name, user_id, path, password_hash, 1, now)

        return await self._db.write(work)

    async def get_user(self, account_id: str, name: str) -> User | None:
        def work() -> User | None:
            with self._db.reading() as conn:
                return _user(conn, account_id, name)

        return await self._db.run(work)

    async def list_users(self, account_id: str) -> list[User]:
        def work() -> list[User]:
            query = sa.select(*_USER_COLUMNS).where(users.c.account_id == account_id).order_by(users.c.name)
            with self._db.reading() as conn:
                return [User(*row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def delete_user(self, user: User) -> None:
        """Delete a user that has no access keys and no policies (IAM's DeleteConflict rule)."""

        def work() -> None:
            with self._db.writing() as conn:
                if conn.scalar(sa.select(sa.func.count()).where(access_keys.c.user_id == user.id)):
                    raise Conflict("Cannot delete entity, must delete access keys first.")
                if _inline_names(conn, "user", user.id) or _attached(conn, "user", user.id):
                    raise Conflict("Cannot delete entity, must delete policies first.")
                conn.execute(users.delete().where(users.c.id == user.id))

        await self._db.write(work)

    async def set_password(self, account_id: str, name: str, password_hash: str) -> bool:
        """Replace the password hash and bump the credential version."""

        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    users.update()
                    .where(users.c.account_id == account_id, users.c.name == name)
                    .values(password_hash=password_hash, credential_version=users.c.credential_version + 1)
                )
                return result.rowcount > 0

        return await self._db.write(work)

    # access keys

    async def create_access_key(
        self, user: User, key_id: str, secret_ciphertext: bytes, now: datetime
    ) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                owned = conn.scalar(sa.select(sa.func.count()).where(access_keys.c.user_id == user.id))
                if (owned or 0) >= 2:  # IAM's quota: two access keys per user
                    raise Conflict("Cannot exceed quota for AccessKeysPerUser: 2")
                conn.execute(
                    access_keys.insert().values(
                        id=key_id, user_id=user.id, secret_ciphertext=secret_ciphertext,
                        status="Active", created_at=now,
                    )
                )  # fmt: skip

        await self._db.write(work)

    async def get_access_key(self, key_id: str) -> AccessKey | None:
        def work() -> AccessKey | None:
            query = (
                sa.select(
                    access_keys.c.id, access_keys.c.status, access_keys.c.secret_ciphertext,
                    access_keys.c.created_at, access_keys.c.last_used_at, *_USER_COLUMNS,
                )
                .join(users, users.c.id == access_keys.c.user_id)
                .where(access_keys.c.id == key_id)
            )  # fmt: skip
            with self._db.reading() as conn:
                row = conn.execute(query).first()
            if row is None:
                return None
            key_fields, user_fields = tuple(row[:5]), tuple(row[5:])
            return AccessKey(key_fields[0], User(*user_fields), *key_fields[1:])

        return await self._db.run(work)

    async def list_access_keys(self, user: User) -> list[AccessKey]:
        def work() -> list[AccessKey]:
            query = (
                sa.select(
                    access_keys.c.id, access_keys.c.status, access_keys.c.secret_ciphertext,
                    access_keys.c.created_at, access_keys.c.last_used_at,
                )
                .where(access_keys.c.user_id == user.id)
                .order_by(access_keys.c.created_at, access_keys.c.id)
            )  # fmt: skip
            with self._db.reading() as conn:
                return [AccessKey(row[0], user, *row[1:]) for row in conn.execute(query)]

        return await self._db.run(work)

    async def set_access_key_status(self, user: User, key_id: str, status: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    access_keys.update()
                    .where(access_keys.c.id == key_id, access_keys.c.user_id == user.id)
                    .values(status=status)
                )
                return result.rowcount > 0

        return await self._db.write(work)

    async def delete_access_key(self, user: User, key_id: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    access_keys.delete().where(access_keys.c.id == key_id, access_keys.c.user_id == user.id)
                )
                return result.rowcount > 0

        return await self._db.write(work)

    async def record_access_key_use(self, key_id: str, now: datetime) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(access_keys.update().where(access_keys.c.id == key_id).values(last_used_at=now))

        await self._db.write(work)

    # roles

    async def create_role(
        self, account_id: str, name: str, *, role_id: str, trust_policy: str, now: datetime,
        path: str = "/", description: str | None = None, max_session_seconds: int = 3600,
    ) -> Role:  # fmt: skip
        def work() -> Role:
            with self._db.writing() as conn:
                if _role(conn, account_id, name) is not None:
                    raise Conflict(f"Role with name {name} already exists.")
                pk = conn.execute(
                    roles.insert()
                    .values(
                        account_id=account_id, name=name, role_id=role_id, path=path,
                        trust_policy=trust_policy, trust_principals=bind(conn, trust_policy),
                        description=description, max_session_seconds=max_session_seconds, created_at=now,
                    )
                    .returning(roles.c.id)
                ).scalar_one()  # fmt: skip
                return _role_by_pk(conn, pk)

        return await self._db.write(work)

    async def get_role(self, account_id: str, name: str) -> Role | None:
        def work() -> Role | None:
            with self._db.reading() as conn:
                return _role(conn, account_id, name)

        return await self._db.run(work)

    async def list_roles(self, account_id: str) -> list[Role]:
        def work() -> list[Role]:
            query = sa.select(*_ROLE_COLUMNS).where(roles.c.account_id == account_id).order_by(roles.c.name)
            with self._db.reading() as conn:
                return [Role(**row._mapping) for row in conn.execute(query)]

        return await self._db.run(work)

    async def update_trust_policy(self, role: Role, trust_policy: str) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    roles.update()
                    .where(roles.c.id == role.id)
                    .values(trust_policy=trust_policy, trust_principals=bind(conn, trust_policy))
                )

        await self._db.write(work)

    async def delete_role(self, role: Role) -> None:
        """Delete a role that has no policies (IAM's DeleteConflict rule); its sessions end with it."""

        def work() -> None:
            with self._db.writing() as conn:
                if _inline_names(conn, "role", role.id) or _attached(conn, "role", role.id):
                    raise Conflict("Cannot delete entity, must delete policies first.")
                conn.execute(access_keys.delete().where(access_keys.c.role_id == role.id))
                conn.execute(roles.delete().where(roles.c.id == role.id))

        await self._db.write(work)

    # temporary credentials

    async def create_temporary_credential(self, credential: TemporaryCredential) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    access_keys.insert().values(
                        id=credential.id, role_id=credential.role.id, session_name=credential.session_name,
                        secret_ciphertext=credential.secret_ciphertext,
                        session_token_hash=credential.session_token_hash, status="Active",
                        created_at=credential.created_at, expires_at=credential.expires_at,
                    )
                )  # fmt: skip

        await self._db.write(work)

    async def get_temporary_credential(self, key_id: str) -> TemporaryCredential | None:
        """The session behind an ``ASIA…`` key, expired or not (the caller judges expiry)."""

        def work() -> TemporaryCredential | None:
            query = (
                sa.select(
                    access_keys.c.id, access_keys.c.session_name, access_keys.c.secret_ciphertext,
                    access_keys.c.session_token_hash, access_keys.c.created_at, access_keys.c.expires_at,
                    *_ROLE_COLUMNS,
                )
                .join(roles, roles.c.id == access_keys.c.role_id)
                .where(access_keys.c.id == key_id, access_keys.c.status == "Active")
            )  # fmt: skip
            with self._db.reading() as conn:
                row = conn.execute(query).first()
            if row is None:
                return None
            key_id_, session, ciphertext, token_hash, created, expires = row[:6]
            role = Role(*tuple(row[6:]))
            return TemporaryCredential(key_id_, role, session, ciphertext, token_hash, created, expires)

        return await self._db.run(work)

    async def delete_expired_credentials(self, now: datetime) -> int:
        """Forget temporary credentials that ended before ``now``; how many there were."""

        def work() -> int:
            with self._db.writing() as conn:
                expired = access_keys.c.expires_at.is_not(None) & (access_keys.c.expires_at < now)
                result = conn.execute(access_keys.delete().where(expired))
                return result.rowcount

        return await self._db.write(work)

    # inline policies

    async def put_inline_policy(
        self, kind: PrincipalKind, principal_id: int, name: str, document: str
    ) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                statement = self._db.insert(inline_policies).values(
                    principal_kind=kind, principal_id=principal_id, name=name, document=document
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[
                            inline_policies.c.principal_kind,
                            inline_policies.c.principal_id,
                            inline_policies.c.name,
                        ],
                        set_={"document": document},
                    )
                )

        await self._db.write(work)

    async def get_inline_policy(self, kind: PrincipalKind, principal_id: int, name: str) -> str | None:
        def work() -> str | None:
            with self._db.reading() as conn:
                return conn.scalar(
                    sa.select(inline_policies.c.document).where(*_inline_key(kind, principal_id, name))
                )

        return await self._db.run(work)

    async def delete_inline_policy(self, kind: PrincipalKind, principal_id: int, name: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                return (
                    conn.execute(
                        inline_policies.delete().where(*_inline_key(kind, principal_id, name))
                    ).rowcount
                    > 0
                )

        return await self._db.write(work)

    async def list_inline_policies(self, kind: PrincipalKind, principal_id: int) -> list[str]:
        def work() -> list[str]:
            with self._db.reading() as conn:
                return _inline_names(conn, kind, principal_id)

        return await self._db.run(work)

    # managed policies

    async def create_managed_policy(
        self, account_id: str, name: str, *, policy_id: str, document: str, now: datetime,
        path: str = "/", description: str | None = None,
    ) -> ManagedPolicy:  # fmt: skip
        def work() -> ManagedPolicy:
            with self._db.writing() as conn:
                if _policy(conn, account_id, name) is not None:
                    raise Conflict(f"A policy called {name} already exists. Duplicate names are not allowed.")
                pk = conn.execute(
                    managed_policies.insert()
                    .values(
                        account_id=account_id, name=name, policy_id=policy_id, path=path,
                        description=description, document=document, created_at=now, updated_at=now,
                    )
                    .returning(managed_policies.c.id)
                ).scalar_one()  # fmt: skip
            return ManagedPolicy(pk, account_id, name, policy_id, path, description, document, now, now)

        return await self._db.write(work)

    async def get_managed_policy(self, account_id: str, name: str) -> ManagedPolicy | None:
        def work() -> ManagedPolicy | None:
            with self._db.reading() as conn:
                return _policy(conn, account_id, name)

        return await self._db.run(work)

    async def list_managed_policies(self, account_id: str) -> list[ManagedPolicy]:
        def work() -> list[ManagedPolicy]:
            query = (
                sa.select(managed_policies)
                .where(managed_policies.c.account_id == account_id)
                .order_by(managed_policies.c.name)
            )
            with self._db.reading() as conn:
                return [ManagedPolicy(*row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def delete_managed_policy(self, policy: ManagedPolicy) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                attached = conn.scalar(
                    sa.select(sa.func.count()).where(policy_attachments.c.policy_id == policy.id)
                )
                if attached:
                    raise Conflict("Cannot delete a policy attached to entities.")
                conn.execute(managed_policies.delete().where(managed_policies.c.id == policy.id))

        await self._db.write(work)

    async def attach_policy(self, policy: ManagedPolicy, kind: PrincipalKind, principal_id: int) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    self._db.insert(policy_attachments)
                    .values(policy_id=policy.id, principal_kind=kind, principal_id=principal_id)
                    .on_conflict_do_nothing()
                )

        await self._db.write(work)

    async def detach_policy(self, policy: ManagedPolicy, kind: PrincipalKind, principal_id: int) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(
                    policy_attachments.delete().where(
                        policy_attachments.c.policy_id == policy.id,
                        policy_attachments.c.principal_kind == kind,
                        policy_attachments.c.principal_id == principal_id,
                    )
                )
                return result.rowcount > 0

        return await self._db.write(work)

    async def list_attached_policies(self, kind: PrincipalKind, principal_id: int) -> list[ManagedPolicy]:
        def work() -> list[ManagedPolicy]:
            with self._db.reading() as conn:
                return _attached(conn, kind, principal_id)

        return await self._db.run(work)

    async def attachment_counts(self, account_id: str) -> dict[int, int]:
        """How many principals each of the account's managed policies is attached to (by row id)."""

        def work() -> dict[int, int]:
            query = (
                sa.select(policy_attachments.c.policy_id, sa.func.count())
                .join(managed_policies, managed_policies.c.id == policy_attachments.c.policy_id)
                .where(managed_policies.c.account_id == account_id)
                .group_by(policy_attachments.c.policy_id)
            )
            with self._db.reading() as conn:
                return {policy_id: count for policy_id, count in conn.execute(query)}

        return await self._db.run(work)

    async def identity_policies(
        self, kind: PrincipalKind, principal_id: int, unique_id: str
    ) -> dict[str, str]:
        """Every policy document that applies to the principal, by name (inline and attached).

        ``unique_id`` (``AIDA…``/``AROA…``) must still be the row's: a token naming a deleted
        principal whose row number was reused gets no policies, not the new principal's."""

        def work() -> dict[str, str]:
            with self._db.reading() as conn:
                table, column = (users, users.c.user_id) if kind == "user" else (roles, roles.c.role_id)
                current = conn.scalar(sa.select(column).where(table.c.id == principal_id))
                if current != unique_id:
                    return {}
                inline = conn.execute(
                    sa.select(inline_policies.c.name, inline_policies.c.document).where(
                        inline_policies.c.principal_kind == kind,
                        inline_policies.c.principal_id == principal_id,
                    )
                ).all()
                attached = _attached(conn, kind, principal_id)
            documents = {f"inline:{name}": document for name, document in inline}
            documents.update({policy.arn: policy.document for policy in attached})
            return documents

        return await self._db.run(work)

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
                _bound(row.policy, row.policy_principals),
                bool(row.public),
                registry_policy,
                tuple((k, v) for k, v in tags),
                _bound(row.public_policy, row.public_policy_principals),
                scope or "V2",
            )

        return await self._db.run(work)

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


def _user(conn: sa.Connection, account_id: str, name: str) -> User | None:
    row = conn.execute(
        sa.select(*_USER_COLUMNS).where(users.c.account_id == account_id, users.c.name == name)
    ).first()
    return None if row is None else User(*row)


def _bound(document: str | None, binding: str | None) -> BoundPolicy | None:
    return None if document is None else BoundPolicy(document, loads(binding))


def _role_by_pk(conn: sa.Connection, pk: int) -> Role:
    return Role(**conn.execute(sa.select(*_ROLE_COLUMNS).where(roles.c.id == pk)).one()._mapping)


def _role(conn: sa.Connection, account_id: str, name: str) -> Role | None:
    row = conn.execute(
        sa.select(*_ROLE_COLUMNS).where(roles.c.account_id == account_id, roles.c.name == name)
    ).first()
    return None if row is None else Role(**row._mapping)


def _policy(conn: sa.Connection, account_id: str, name: str) -> ManagedPolicy | None:
    row = conn.execute(
        sa.select(managed_policies).where(
            managed_policies.c.account_id == account_id, managed_policies.c.name == name
        )
    ).first()
    return None if row is None else ManagedPolicy(*row)


def _inline_key(kind: PrincipalKind, principal_id: int, name: str) -> tuple[Any, ...]:
    return (
        inline_policies.c.principal_kind == kind,
        inline_policies.c.principal_id == principal_id,
        inline_policies.c.name == name,
    )


def _inline_names(conn: sa.Connection, kind: PrincipalKind, principal_id: int) -> list[str]:
    query = (
        sa.select(inline_policies.c.name)
        .where(inline_policies.c.principal_kind == kind, inline_policies.c.principal_id == principal_id)
        .order_by(inline_policies.c.name)
    )
    return list(conn.scalars(query))


def _attached(conn: sa.Connection, kind: PrincipalKind, principal_id: int) -> list[ManagedPolicy]:
    query = (
        sa.select(managed_policies)
        .join(policy_attachments, policy_attachments.c.policy_id == managed_policies.c.id)
        .where(policy_attachments.c.principal_kind == kind, policy_attachments.c.principal_id == principal_id)
        .order_by(managed_policies.c.name)
    )
    return [ManagedPolicy(*row) for row in conn.execute(query)]
