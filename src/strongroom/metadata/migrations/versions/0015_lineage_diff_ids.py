"""Lineage compares layers by diff id (what each row's chain hashes); the tag an image was
pushed with

Revision ID: 0015_lineage_diff_ids
Revises: 0014_lineage
Create Date: 2026-12-06 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_lineage_diff_ids"
down_revision = "0014_lineage"
branch_labels = None
depends_on = None


def _name(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    # NULL for the rows recorded before: their chains hash compressed digests, which a
    # later image's lookup still asks for (docs/adr/0021).
    with op.batch_alter_table("lineage_images") as batch:
        batch.add_column(sa.Column("layers_by", sa.String(16), nullable=True))
        batch.add_column(sa.Column("digest_chain_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pushed_tag", _name(128), nullable=True))
        batch.create_index(
            batch.f("ix_lineage_images_digest_chain_hash"), ["digest_chain_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lineage_images") as batch:
        batch.drop_index(batch.f("ix_lineage_images_digest_chain_hash"))
        batch.drop_column("pushed_tag")
        batch.drop_column("digest_chain_hash")
        batch.drop_column("layers_by")
