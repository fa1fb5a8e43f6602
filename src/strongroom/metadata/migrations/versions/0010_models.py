"""The model index: models and their licences

Revision ID: 0010_models
Revises: 0009_pull_policies
Create Date: 2026-12-05 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strongroom.metadata.schema

revision = "0010_models"
down_revision = "0009_pull_policies"
branch_labels = None
depends_on = None

_TIME = strongroom.metadata.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", sa.String(160), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("format", sa.String(32), nullable=True),
        sa.Column("architecture", sa.String(128), nullable=True),
        sa.Column("parameter_count", sa.BigInteger(), nullable=True),
        sa.Column("pushed_at", _TIME, nullable=False),
        sa.Column("indexed_at", _TIME, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "manifest_digest"],
            ["manifests.repository_id", "manifests.digest"],
            name=op.f("fk_models_repository_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint(
            "repository_id", "manifest_digest", name=op.f("uq_models_repository_id_manifest_digest")
        ),
    )
    op.create_table(
        "model_licenses",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("license", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_licenses_model_id_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_id", "license", name=op.f("pk_model_licenses")),
    )


def downgrade() -> None:
    op.drop_table("model_licenses")
    op.drop_table("models")
