"""warnings on an ingest (processingMCP.xml choices Amber does not follow)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 10:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.drop_column('warnings')
