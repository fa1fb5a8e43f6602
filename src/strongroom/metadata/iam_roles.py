"""Roles, their trust policies and the temporary credentials of their sessions on SQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from strongroom.errors import Conflict
from strongroom.metadata.database import Database
from strongroom.metadata.iam_rows import (
    ROLE_COLUMNS,
    attached,
    inline_names,
    role_by_pk,
    role_row,
)
from strongroom.metadata.principals import bind
from strongroom.metadata.records import (
    Role,
    TemporaryCredential,
)
from strongroom.metadata.schema import (
    access_keys,
    roles,
)


class SqlRoles:
    _db: Database

    # roles

    async def create_role(
        self, account_id: str, name: str, *, role_id: str, trust_policy: str, now: datetime,
        path: str = "/", description: str | None = None, max_session_seconds: int = 3600,
    ) -> Role:  # fmt: skip
        def work() -> Role:
            with self._db.writing() as conn:
                if role_row(conn, account_id, name) is not None:
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
                return role_by_pk(conn, pk)

        return await self._db.write(work)

    async def get_role(self, account_id: str, name: str) -> Role | None:
        def work() -> Role | None:
            with self._db.reading() as conn:
                return role_row(conn, account_id, name)

        return await self._db.read(work)

    async def list_roles(self, account_id: str) -> list[Role]:
        def work() -> list[Role]:
            query = sa.select(*ROLE_COLUMNS).where(roles.c.account_id == account_id).order_by(roles.c.name)
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
                if inline_names(conn, "role", role.id) or attached(conn, "role", role.id):
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
                    *ROLE_COLUMNS,
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
