"""The Archivematica-compatible API's state: hidden SIPs and v2beta/package idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archivematica_hidden_units",
        sa.Column("unit_uuid", sa.Uuid(), nullable=False),
        sa.Column("unit_type", sa.String(length=20), nullable=False),
        sa.Column("hidden_by", sa.String(length=150), nullable=False),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("unit_uuid"),
    )
    op.create_table(
        "archivematica_idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("transfer_uuid", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username", "key", name="uq_archivematica_idempotency_user_key"),
    )


def downgrade() -> None:
    op.drop_table("archivematica_idempotency_keys")
    op.drop_table("archivematica_hidden_units")
