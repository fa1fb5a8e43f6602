"""Policies bind the users and roles they name to their unique ids; ECR Public keeps a
repository policy of its own

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strongroom.metadata.principals import bind

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("policy_principals", sa.Text(), nullable=True))
        batch.add_column(sa.Column("public_policy", sa.Text(), nullable=True))
        batch.add_column(sa.Column("public_policy_principals", sa.Text(), nullable=True))
    with op.batch_alter_table("registry_policies") as batch:
        batch.add_column(sa.Column("principals", sa.Text(), nullable=True))
    with op.batch_alter_table("roles") as batch:
        batch.add_column(sa.Column("trust_principals", sa.Text(), nullable=True))
    conn = op.get_bind()
    # Until now one policy served both APIs: a public repository's ECR Public policy starts
    # as a copy of it (docs/adr/0004).
    conn.execute(sa.text("UPDATE repositories SET public_policy = policy WHERE public"))
    # Policies stored before today name whoever holds those names now: bind them to it.
    for table, key, text, binding in (
        ("repositories", "id", "policy", "policy_principals"),
        ("repositories", "id", "public_policy", "public_policy_principals"),
        ("registry_policies", "account_id", "document", "principals"),
        ("roles", "id", "trust_policy", "trust_principals"),
    ):
        rows = conn.execute(sa.text(f"SELECT {key}, {text} FROM {table} WHERE {text} IS NOT NULL")).all()  # noqa: S608
        for row_key, document in rows:
            conn.execute(
                sa.text(f"UPDATE {table} SET {binding} = :binding WHERE {key} = :key"),  # noqa: S608
                {"binding": bind(conn, document), "key": row_key},
            )


def downgrade() -> None:
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("trust_principals")
    with op.batch_alter_table("registry_policies") as batch:
        batch.drop_column("principals")
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("public_policy_principals")
        batch.drop_column("public_policy")
        batch.drop_column("policy_principals")
