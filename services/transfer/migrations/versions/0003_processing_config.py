"""processing configuration named by each transfer and resumable upload

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows made before transfers could name a configuration were all handed to ingest with `automated`.
    for table in ('transfer', 'upload_session'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('processing_config', sqlmodel.sql.sqltypes.AutoString(length=100),
                                          nullable=False, server_default='automated'))


def downgrade() -> None:
    for table in ('upload_session', 'transfer'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('processing_config')
