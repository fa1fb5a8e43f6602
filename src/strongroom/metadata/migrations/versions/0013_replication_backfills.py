"""Replication backfills (StartReplicationBackfill) and their per-image results

Revision ID: 0013_replication_backfills
Revises: 0012_registry_sbom_scans
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0013_replication_backfills"
down_revision = "0012_registry_sbom_scans"
branch_labels = None
depends_on = None

_TIME = strongroom.metadata.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "replication_backfills",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("registry_id", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_replication_backfills_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_backfills")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_replication_backfills_account_id_started_at"),
        "replication_backfills",
        ["account_id", "started_at"],
    )
    op.create_table(
        "replication_backfill_results",
        sa.Column("backfill_id", sa.String(36), nullable=False),
        sa.Column("repository", sa.String(256), nullable=False),
        sa.Column("image_digest", sa.String(160), nullable=False),
        sa.Column("image_tag", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["backfill_id"], ["replication_backfills.id"],
            name=op.f("fk_replication_backfill_results_backfill_id_replication_backfills"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "backfill_id", "repository", "image_digest", "image_tag", name=op.f("pk_replication_backfill_results")
        ),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("replication_backfill_results")
    op.drop_index(op.f("ix_replication_backfills_account_id_started_at"), "replication_backfills")
    op.drop_table("replication_backfills")
