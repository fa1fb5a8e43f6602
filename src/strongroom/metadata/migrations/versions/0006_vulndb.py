"""Vulnerability database: OSV records and the package keys they are filed under

Revision ID: 0006_vulndb
Revises: 0005_upload_offset
Create Date: 2026-12-04 15:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0006_vulndb"
down_revision = "0005_upload_offset"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vulndb_records",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("modified", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("imported_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulndb_records")),
    )
    op.create_table(
        "vulndb_packages",
        sa.Column("ecosystem", sa.String(128), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["vulndb_records.id"],
            name=op.f("fk_vulndb_packages_record_id_vulndb_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ecosystem", "name", "record_id", name=op.f("pk_vulndb_packages")),
    )
    op.create_index(op.f("ix_vulndb_packages_record_id"), "vulndb_packages", ["record_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_vulndb_packages_record_id"), table_name="vulndb_packages")
    op.drop_table("vulndb_packages")
    op.drop_table("vulndb_records")
