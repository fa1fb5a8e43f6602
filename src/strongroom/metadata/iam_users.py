"""Users and their access keys on SQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from strongroom.errors import Conflict
from strongroom.metadata.database import Database
from strongroom.metadata.iam_rows import (
    USER_COLUMNS,
    attached,
    inline_names,
    user_row,
)
from strongroom.metadata.records import (
    AccessKey,
    User,
)
from strongroom.metadata.schema import (
    access_keys,
    users,
)


class SqlUsers:
    _db: Database

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
                if user_row(conn, account_id, name) is not None:
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
                return user_row(conn, account_id, name)

        return await self._db.read(work)

    async def list_users(self, account_id: str) -> list[User]:
        def work() -> list[User]:
            query = sa.select(*USER_COLUMNS).where(users.c.account_id == account_id).order_by(users.c.name)
            with self._db.reading() as conn:
                return [User(*row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def delete_user(self, user: User) -> None:
        """Delete a user that has no access keys and no policies (IAM's DeleteConflict rule)."""

        def work() -> None:
            with self._db.writing() as conn:
                if conn.scalar(sa.select(sa.func.count()).where(access_keys.c.user_id == user.id)):
                    raise Conflict("Cannot delete entity, must delete access keys first.")
                if inline_names(conn, "user", user.id) or attached(conn, "user", user.id):
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
                    access_keys.c.created_at, access_keys.c.last_used_at, *USER_COLUMNS,
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

        return await self._db.read(work)

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
