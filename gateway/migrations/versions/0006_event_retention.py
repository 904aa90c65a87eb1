"""Event log retention: where the purge has reached (so a stream resuming from a purged id is told), and an index
that lets the purge see which events a webhook delivery still needs.

Revision ID: 0006_event_retention
Revises: 0005_events
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_event_retention"
down_revision: str | None = "0005_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "event_retention",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("purged_through", sa.Integer(), nullable=False),
        sa.Column("events_purged", sa.BigInteger(), nullable=False),
        sa.Column("deliveries_purged", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "purged_through": 0, "events_purged": 0, "deliveries_purged": 0}])
    op.create_index("ix_webhook_deliveries_event_row_id", "webhook_deliveries", ["event_row_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_event_row_id", table_name="webhook_deliveries")
    op.drop_table("event_retention")
