"""Spaces, locations and packages.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_spaces",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("access_protocol", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_table(
        "storage_locations",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("space_uuid", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("quota", sa.BigInteger(), nullable=True),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["space_uuid"], ["storage_spaces.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("purpose", "path", name="uq_storage_locations_purpose_path"),
    )
    op.create_index("ix_storage_locations_space_uuid", "storage_locations", ["space_uuid"])
    op.create_index("ix_storage_locations_purpose", "storage_locations", ["purpose"])
    op.create_table(
        "storage_packages",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("package_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("location_uuid", sa.Uuid(), nullable=False),
        sa.Column("current_path", sa.String(length=4096), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["location_uuid"], ["storage_locations.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_index("ix_storage_packages_package_type", "storage_packages", ["package_type"])
    op.create_index("ix_storage_packages_status", "storage_packages", ["status"])
    op.create_index("ix_storage_packages_location_uuid", "storage_packages", ["location_uuid"])


def downgrade() -> None:
    op.drop_table("storage_packages")
    op.drop_table("storage_locations")
    op.drop_table("storage_spaces")
