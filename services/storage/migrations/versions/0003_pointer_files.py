"""Pointer files: where a compressed AIP's `pointer.<uuid>.xml` is stored beside it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("storage_packages") as batch:
        batch.add_column(sa.Column("pointer_path", sa.String(length=4096), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_packages") as batch:
        batch.drop_column("pointer_path")
