"""Replication destinations and per-image replication status

Revision ID: 0011_replication
Revises: 0010_models
Create Date: 2026-12-05 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0011_replication"
down_revision = "0010_models"
branch_labels = None
depends_on = None

_TIME = strongroom.metadata.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "replication_destinations",
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("registry_id", sa.String(12), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("access_key_id", sa.String(128), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("region", "registry_id", name=op.f("pk_replication_destinations")),
    )
    op.create_table(
        "replication_statuses",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image_digest", sa.String(160), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("registry_id", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_replication_statuses_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "repository_id", "image_digest", "region", "registry_id", name=op.f("pk_replication_statuses")
        ),
    )


def downgrade() -> None:
    op.drop_table("replication_statuses")
    op.drop_table("replication_destinations")
