"""Image lineage: what each image is built on, and patch policies

Revision ID: 0014_lineage
Revises: 0013_replication_backfills
Create Date: 2026-12-05 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0014_lineage"
down_revision = "0013_replication_backfills"
branch_labels = None
depends_on = None

_TIME = strongroom.metadata.schema.UtcDateTime(timezone=True)


def _name(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "lineage_images",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(160), nullable=False),
        sa.Column("layer_count", sa.Integer(), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=True),
        sa.Column("parent_account_id", sa.String(12), nullable=True),
        sa.Column("parent_repository_id", sa.Integer(), nullable=True),
        sa.Column("parent_name", sa.String(512), nullable=True),
        sa.Column("parent_digest", sa.String(160), nullable=True),
        sa.Column("parent_tag", _name(128), nullable=True),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("parent_layers", sa.Integer(), nullable=True),
        sa.Column("pushed_at", _TIME, nullable=False),
        sa.Column("detected_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "digest"],
            ["manifests.repository_id", "manifests.digest"],
            name=op.f("fk_lineage_images_repository_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "digest", name=op.f("pk_lineage_images")),
    )
    op.create_index(op.f("ix_lineage_images_chain_hash"), "lineage_images", ["chain_hash"], unique=False)
    op.create_index(
        op.f("ix_lineage_images_parent_repository_id_parent_digest"),
        "lineage_images",
        ["parent_repository_id", "parent_digest"],
        unique=False,
    )
    op.create_index(
        op.f("ix_lineage_images_parent_repository_id_parent_tag"),
        "lineage_images",
        ["parent_repository_id", "parent_tag"],
        unique=False,
    )
    op.create_table(
        "lineage_prefixes",
        sa.Column("prefix_hash", sa.String(64), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(160), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "digest"],
            ["lineage_images.repository_id", "lineage_images.digest"],
            name=op.f("fk_lineage_prefixes_repository_id_lineage_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prefix_hash", "repository_id", "digest", name=op.f("pk_lineage_prefixes")),
    )
    op.create_table(
        "lineage_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", _name(256), nullable=False),
        sa.Column("max_base_age_seconds", sa.BigInteger(), nullable=True),
        sa.Column("max_rebuild_delay_seconds", sa.BigInteger(), nullable=True),
        sa.Column("no_inherited_critical", sa.Boolean(), nullable=False),
        sa.Column("allowed_bases", sa.Text(), nullable=True),
        sa.Column("enforce", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(2048), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_lineage_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_policies")),
        sa.UniqueConstraint(
            "account_id", "scope", "name", name=op.f("uq_lineage_policies_account_id_scope_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("lineage_policies")
    op.drop_table("lineage_prefixes")
    op.drop_index(op.f("ix_lineage_images_parent_repository_id_parent_tag"), table_name="lineage_images")
    op.drop_index(op.f("ix_lineage_images_parent_repository_id_parent_digest"), table_name="lineage_images")
    op.drop_index(op.f("ix_lineage_images_chain_hash"), table_name="lineage_images")
    op.drop_table("lineage_images")
