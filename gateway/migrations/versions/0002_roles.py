"""Users get a role (admin, archivist, reader) instead of is_admin, and can be disabled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="reader"))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("disabled_by", sa.String(length=150), nullable=True))
    # Users who were not administrators could call every proxied operation; archivist keeps all they used it for
    # (transfers, ingests, decisions) while taking away what only administrators should do (locations, keys).
    op.execute(sa.text("UPDATE users SET role = CASE WHEN is_admin THEN 'admin' ELSE 'archivist' END"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("role", server_default=None)
        batch.drop_column("is_admin")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE users SET is_admin = (role = 'admin')"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("is_admin", server_default=None)
        batch.drop_column("disabled_by")
        batch.drop_column("disabled_at")
        batch.drop_column("role")
