"""Rows of the IAM tables as records, and the queries every IAM store module shares."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from strongroom.metadata.principals import loads
from strongroom.metadata.records import BoundPolicy, ManagedPolicy, Role, User
from strongroom.metadata.schema import inline_policies, managed_policies, policy_attachments, roles, users

PrincipalKind = Literal["user", "role"]
REGISTRY_POLICY_SCOPE = "REGISTRY_POLICY_SCOPE"
"""The ECR account setting that says which actions the registry policy governs."""

USER_COLUMNS = (
    users.c.id,
    users.c.account_id,
    users.c.name,
    users.c.user_id,
    users.c.path,
    users.c.password_hash,
    users.c.credential_version,
    users.c.created_at,
)

ROLE_COLUMNS = (
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


def user_row(conn: sa.Connection, account_id: str, name: str) -> User | None:
    row = conn.execute(
        sa.select(*USER_COLUMNS).where(users.c.account_id == account_id, users.c.name == name)
    ).first()
    return None if row is None else User(*row)


def bound(document: str | None, binding: str | None) -> BoundPolicy | None:
    return None if document is None else BoundPolicy(document, loads(binding))


def role_by_pk(conn: sa.Connection, pk: int) -> Role:
    return Role(**conn.execute(sa.select(*ROLE_COLUMNS).where(roles.c.id == pk)).one()._mapping)


def role_row(conn: sa.Connection, account_id: str, name: str) -> Role | None:
    row = conn.execute(
        sa.select(*ROLE_COLUMNS).where(roles.c.account_id == account_id, roles.c.name == name)
    ).first()
    return None if row is None else Role(**row._mapping)


def policy_row(conn: sa.Connection, account_id: str, name: str) -> ManagedPolicy | None:
    row = conn.execute(
        sa.select(managed_policies).where(
            managed_policies.c.account_id == account_id, managed_policies.c.name == name
        )
    ).first()
    return None if row is None else ManagedPolicy(*row)


def inline_key(kind: PrincipalKind, principal_id: int, name: str) -> tuple[Any, ...]:
    return (
        inline_policies.c.principal_kind == kind,
        inline_policies.c.principal_id == principal_id,
        inline_policies.c.name == name,
    )


def inline_names(conn: sa.Connection, kind: PrincipalKind, principal_id: int) -> list[str]:
    query = (
        sa.select(inline_policies.c.name)
        .where(inline_policies.c.principal_kind == kind, inline_policies.c.principal_id == principal_id)
        .order_by(inline_policies.c.name)
    )
    return list(conn.scalars(query))


def attached(conn: sa.Connection, kind: PrincipalKind, principal_id: int) -> list[ManagedPolicy]:
    query = (
        sa.select(managed_policies)
        .join(policy_attachments, policy_attachments.c.policy_id == managed_policies.c.id)
        .where(policy_attachments.c.principal_kind == kind, policy_attachments.c.principal_id == principal_id)
        .order_by(managed_policies.c.name)
    )
    return [ManagedPolicy(*row) for row in conn.execute(query)]
