"""lifecycle: cancel, retry, clean-up, transfer notification

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_of', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cleaned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cleaned_by', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=True))
        batch_op.add_column(sa.Column('cleaned_bytes', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('transfer_removed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('transfer_notified', sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.drop_index(batch_op.f('ix_ingest_transfer_uuid'))
        batch_op.create_index(batch_op.f('ix_ingest_transfer_uuid'), ['transfer_uuid'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_finished_at'), ['finished_at'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_ingest_retry_of'), ['retry_of'])


def downgrade() -> None:

    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_ingest_retry_of'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_ingest_finished_at'))
        batch_op.drop_index(batch_op.f('ix_ingest_transfer_uuid'))
        batch_op.create_index(batch_op.f('ix_ingest_transfer_uuid'), ['transfer_uuid'], unique=True)
        batch_op.drop_column('transfer_notified')
        batch_op.drop_column('transfer_removed')
        batch_op.drop_column('cleaned_bytes')
        batch_op.drop_column('cleaned_by')
        batch_op.drop_column('cleaned_at')
        batch_op.drop_column('finished_at')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('cancelled_by')
        batch_op.drop_column('retry_of')
