"""Upload sessions record their size and current writer, so that two processes never
both take the same chunk

Revision ID: 0005_upload_offset
Revises: 0004
Create Date: 2026-12-04 15:10:00

Sessions open during the upgrade start at size 0: their next chunk answers 416 with
``Range: 0-0`` and the client starts the blob again (uploads are transient).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_upload_offset"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("writer", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("writer")
        batch.drop_column("size")
