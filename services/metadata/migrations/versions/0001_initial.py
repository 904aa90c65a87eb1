"""initial: packages, PREMIS file objects, events, agents and event-agent links

Revision ID: 0001
Revises:
Create Date: 2026-11-21 09:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Byte-order ("C") collation on PostgreSQL, as the model declares: METS nesting and keyset pages rely on it.
path_type = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "package",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("transfer_uuid", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_table(
        "agent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier_type", sa.String(length=255), nullable=False),
        sa.Column("identifier_value", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("agent_type", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identifier_type", "identifier_value", name="uq_agent_identifier"),
    )
    op.create_table(
        "file",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("path", path_type, nullable=False),
        sa.Column("original_name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum_type", sa.String(length=32), nullable=False),
        sa.Column("checksum", sa.String(length=128), nullable=False),
        sa.Column("format_name", sa.String(length=255), nullable=False),
        sa.Column("format_version", sa.String(length=255), nullable=True),
        sa.Column("puid", sa.String(length=64), nullable=True),
        sa.Column("format_basis", sa.Text(), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("use", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("package_uuid", "path", name="uq_file_package_path"),
    )
    op.create_table(
        "event",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("package_uuid", sa.Uuid(), nullable=False),
        sa.Column("object_uuid", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=255), nullable=False),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["package_uuid"], ["package.uuid"]),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_index("ix_event_package_uuid", "event", ["package_uuid"], unique=False)
    op.create_index("ix_event_object_uuid", "event", ["object_uuid"], unique=False)
    op.create_table(
        "event_agent",
        sa.Column("event_uuid", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["event_uuid"], ["event.uuid"]),
        sa.PrimaryKeyConstraint("event_uuid", "agent_id"),
    )


def downgrade() -> None:
    op.drop_table("event_agent")
    op.drop_index("ix_event_object_uuid", table_name="event")
    op.drop_index("ix_event_package_uuid", table_name="event")
    op.drop_table("event")
    op.drop_table("file")
    op.drop_table("agent")
    op.drop_table("package")
