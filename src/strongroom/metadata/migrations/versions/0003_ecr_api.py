"""ECR API: repository settings, resource tags, account settings, creation templates,
lifecycle previews, pull times

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("tag_mutability", sa.String(32), nullable=False, server_default="MUTABLE"))
        batch.add_column(sa.Column("tag_mutability_filters", sa.Text(), nullable=True))
        batch.add_column(sa.Column("scan_on_push", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("encryption_type", sa.String(16), nullable=False, server_default="AES256"))
        batch.add_column(sa.Column("kms_key", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("lifecycle_policy", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "lifecycle_evaluated_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("catalog_data", sa.Text(), nullable=True))
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(
            sa.Column("last_pulled_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "repository_tags",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_repository_tags_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "key", name=op.f("pk_repository_tags")),
    )
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_settings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_account_settings")),
    )
    op.create_table(
        "creation_templates",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("prefix", sa.String(256), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_creation_templates_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "prefix", name=op.f("pk_creation_templates")),
    )
    op.create_table(
        "lifecycle_previews",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("results", sa.Text(), nullable=True),
        sa.Column("created_at", strongroom.metadata.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_lifecycle_previews_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_lifecycle_previews")),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_previews")
    op.drop_table("creation_templates")
    op.drop_table("account_settings")
    op.drop_table("repository_tags")
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("last_pulled_at")
    with op.batch_alter_table("repositories") as batch:
        for column in (
            "catalog_data", "lifecycle_evaluated_at", "lifecycle_policy", "kms_key",
            "encryption_type", "scan_on_push", "tag_mutability_filters", "tag_mutability",
        ):  # fmt: skip
            batch.drop_column(column)
