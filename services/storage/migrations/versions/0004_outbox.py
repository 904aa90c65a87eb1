"""outbox: domain events recorded with the changes they describe, until the gateway collects them

Revision ID: 0004_outbox
Revises: 0003
Create Date: 2026-12-04 14:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_outbox'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('event_id', sa.Uuid(), nullable=False),
        sa.Column('type', sa.String(length=100), nullable=False),
        sa.Column('subject', sa.Uuid(), nullable=True),
        sa.Column('related', sa.Uuid(), nullable=True),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id'),
    )


def downgrade() -> None:
    op.drop_table('outbox')
