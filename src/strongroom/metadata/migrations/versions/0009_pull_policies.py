"""Pull policies and accepted risks (the pull gate)

Revision ID: 0009_pull_policies
Revises: 0008_scans
Create Date: 2026-12-05 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0009_pull_policies"
down_revision = "0008_scans"
branch_labels = None
depends_on = None

_TIME = strongroom.metadata.schema.UtcDateTime(timezone=True)


def _name() -> sa.types.TypeEngine[str]:
    return sa.String(256).with_variant(sa.VARCHAR(256, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pull_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("max_severity", sa.String(16), nullable=True),
        sa.Column("unsafe_model_severity", sa.String(16), nullable=True),
        sa.Column("block_unscanned", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(2048), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_pull_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_policies")),
        sa.UniqueConstraint(
            "account_id", "scope", "name", name=op.f("uq_pull_policies_account_id_scope_name")
        ),
    )
    op.create_table(
        "accepted_risks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("repository_name", _name(), nullable=False),
        sa.Column("finding_id", sa.String(255), nullable=False),
        sa.Column("image_digest", sa.String(160), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("accepted_by", sa.String(2048), nullable=False),
        sa.Column("accepted_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_accepted_risks_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accepted_risks")),
    )
    op.create_index(
        op.f("ix_accepted_risks_account_id_repository_name"),
        "accepted_risks",
        ["account_id", "repository_name"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_accepted_risks_account_id_repository_name"), table_name="accepted_risks")
    op.drop_table("accepted_risks")
    op.drop_table("pull_policies")
