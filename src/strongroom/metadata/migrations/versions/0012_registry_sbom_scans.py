"""The registry's own SBOMs are recorded as scanned when they are stored

Revision ID: 0012_registry_sbom_scans
Revises: 0011_replication
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_registry_sbom_scans"
down_revision = "0011_replication"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_scans") as batch:
        batch.add_column(
            sa.Column("made_by_registry", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("image_scans") as batch:
        batch.drop_column("made_by_registry")
