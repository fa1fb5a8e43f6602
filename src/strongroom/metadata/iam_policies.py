"""Identity policies on SQL: inline and managed, their attachments, and what a principal is allowed by."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from strongroom.errors import Conflict
from strongroom.metadata.database import Database
from strongroom.metadata.iam_rows import (
    PrincipalKind,
    attached,
    inline_key,
    inline_names,
    policy_row,
)
from strongroom.metadata.records import (
    ManagedPolicy,
)
from strongroom.metadata.schema import (
    inline_policies,
    managed_policies,
    policy_attachments,
    roles,
    users,
)


class SqlIdentityPolicies:
    _db: Database

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
                    sa.select(inline_policies.c.document).where(*inline_key(kind, principal_id, name))
                )

        return await self._db.run(work)

    async def delete_inline_policy(self, kind: PrincipalKind, principal_id: int, name: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                return (
                    conn.execute(
                        inline_policies.delete().where(*inline_key(kind, principal_id, name))
                    ).rowcount
                    > 0
                )

        return await self._db.write(work)

    async def list_inline_policies(self, kind: PrincipalKind, principal_id: int) -> list[str]:
        def work() -> list[str]:
            with self._db.reading() as conn:
                return inline_names(conn, kind, principal_id)

        return await self._db.run(work)

    # managed policies

    async def create_managed_policy(
        self, account_id: str, name: str, *, policy_id: str, document: str, now: datetime,
        path: str = "/", description: str | None = None,
    ) -> ManagedPolicy:  # fmt: skip
        def work() -> ManagedPolicy:
            with self._db.writing() as conn:
                if policy_row(conn, account_id, name) is not None:
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
                return policy_row(conn, account_id, name)

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
                return attached(conn, kind, principal_id)

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
                managed = attached(conn, kind, principal_id)
            documents = {f"inline:{name}": document for name, document in inline}
            documents.update({policy.arn: policy.document for policy in managed})
            return documents

        return await self._db.run(work)  # every document of the principal: not bounded
