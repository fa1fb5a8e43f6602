"""A manifest stored by a replication is marked, so a backfill here skips it (replicated
content is not replicated onward, ADR 0020)

Revision ID: 0016_manifest_replicated
Revises: 0015_lineage_diff_ids
Create Date: 2026-12-06 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_manifest_replicated"
down_revision = "0015_lineage_diff_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows stored before are not known to be replicated: false, as a push stores them.
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(sa.Column("replicated", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("replicated")
