"""identity and access

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:53:47.701721
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ADMIN = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    op.create_table(
        "inline_policies",
        sa.Column("principal_kind", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("principal_kind", "principal_id", "name", name=op.f("pk_inline_policies")),
    )
    op.create_table(
        "managed_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), server_default="/", nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_managed_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_managed_policies")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_managed_policies_account_id_name")),
        sa.UniqueConstraint("policy_id", name=op.f("uq_managed_policies_policy_id")),
    )
    op.create_table(
        "registry_policies",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("updated_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_registry_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_registry_policies")),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), server_default="/", nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("max_session_seconds", sa.Integer(), server_default="3600", nullable=False),
        sa.Column("created_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_roles_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_roles_account_id_name")),
        sa.UniqueConstraint("role_id", name=op.f("uq_roles_role_id")),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role_id", sa.Integer(), nullable=True),
        sa.Column("session_name", sa.String(length=64), nullable=True),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("session_token_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=8), server_default="Active", nullable=False),
        sa.Column("created_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(user_id IS NULL) != (role_id IS NULL)", name="owner"),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_access_keys_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_access_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
    )
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "policy_attachments",
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("principal_kind", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["managed_policies.id"],
            name=op.f("fk_policy_attachments_policy_id_managed_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "policy_id", "principal_kind", "principal_id", name=op.f("pk_policy_attachments")
        ),
    )
    with op.batch_alter_table("policy_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_attachments_principal_kind_principal_id"),
            ["principal_kind", "principal_id"],
            unique=False,
        )

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("path", sa.String(length=512), server_default="/", nullable=False))
        batch_op.alter_column("password_hash", existing_type=sa.VARCHAR(length=255), nullable=True)
    # Existing users (the bootstrap administrator) get IAM unique ids, and keep the
    # administrator rights every user had before policies existed.
    connection = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("user_id", sa.String))
    inline = sa.table(
        "inline_policies",
        sa.column("principal_kind", sa.String),
        sa.column("principal_id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("document", sa.Text),
    )
    for (user_pk,) in connection.execute(sa.select(users.c.id)).all():
        unique_id = "AIDA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))
        connection.execute(users.update().where(users.c.id == user_pk).values(user_id=unique_id))
        connection.execute(
            inline.insert().values(
                principal_kind="user", principal_id=user_pk, name="AdministratorAccess", document=_ADMIN
            )
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_user_id"), ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_user_id"), type_="unique")
        batch_op.alter_column("password_hash", existing_type=sa.VARCHAR(length=255), nullable=False)
        batch_op.drop_column("path")
        batch_op.drop_column("user_id")

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("public")
        batch_op.drop_column("policy")

    with op.batch_alter_table("policy_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_attachments_principal_kind_principal_id"))

    op.drop_table("policy_attachments")
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_keys_user_id"))

    op.drop_table("access_keys")
    op.drop_table("roles")
    op.drop_table("registry_policies")
    op.drop_table("managed_policies")
    op.drop_table("inline_policies")
    op.drop_table("audit_events")
