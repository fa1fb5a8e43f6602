"""Image scans, their findings, and the persistent layer inventory cache

Revision ID: 0008_scans
Revises: 0007_jobs
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0008_scans"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None

_TIME = strongroom.metadata.schema.UtcDateTime(timezone=True)
_DIGEST = sa.String(160)


def _image_key(table: str) -> list[sa.Column[object] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image_digest", _DIGEST, nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "image_digest"],
            ["manifests.repository_id", "manifests.digest"],
            name=op.f(f"fk_{table}_repository_id_manifests"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "image_scans",
        *_image_key("image_scans"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("manual_requested_at", _TIME, nullable=True),
        sa.Column("started_at", _TIME, nullable=True),
        sa.Column("completed_at", _TIME, nullable=True),
        sa.Column("vulnerability_source_updated_at", _TIME, nullable=True),
        sa.Column("layers_analysed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("layers_cached", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "image_digest", name=op.f("pk_image_scans")),
    )
    op.create_table(
        "scan_findings",
        *_image_key("scan_findings"),
        sa.Column("finding_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint(
            "repository_id", "image_digest", "finding_key", name=op.f("pk_scan_findings")
        ),
    )
    op.create_table(
        "layer_inventories",
        sa.Column("layer_digest", _DIGEST, nullable=False),
        sa.Column("analyser_version", sa.String(32), nullable=False),
        sa.Column("inventory", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("layer_digest", "analyser_version", name=op.f("pk_layer_inventories")),
    )


def downgrade() -> None:
    op.drop_table("layer_inventories")
    op.drop_table("scan_findings")
    op.drop_table("image_scans")
