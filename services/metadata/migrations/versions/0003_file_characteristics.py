"""characterization tools' outputs about files (kept in the METS as objectCharacteristicsExtension)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_characteristics",
        sa.Column("file_uuid", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("tool", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["file_uuid"], ["file.uuid"]),
        sa.PrimaryKeyConstraint("file_uuid", "ordinal"),
    )


def downgrade() -> None:
    op.drop_table("file_characteristics")
