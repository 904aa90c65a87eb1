"""owner and lease of a transfer being received, so restart recovery touches only abandoned ones

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 10:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows made before leases have none: recovery treats them as the old start-up did (abandoned).
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_transfer_lease_expires_at'), ['lease_expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_lease_expires_at'))
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('owner')
