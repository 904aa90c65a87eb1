"""normalization outcomes (the normalization report)

Revision ID: 0009_normalization
Revises: 0008_outbox
Create Date: 2026-12-04 14:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009_normalization'
down_revision = '0008_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('normalization_outcome',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ingest_uuid', sa.Uuid(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('file_uuid', sa.Uuid(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('rule_uuid', sa.Uuid(), nullable=True),
    sa.Column('command', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('fallback', sa.Boolean(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('output_uuid', sa.Uuid(), nullable=True),
    sa.Column('output_puid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ingest_uuid'], ['ingest.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ingest_uuid', 'attempt', 'path', 'purpose')
    )
    with op.batch_alter_table('normalization_outcome', schema=None) as batch_op:
        batch_op.create_index('ix_normalization_outcome_ingest_attempt', ['ingest_uuid', 'attempt'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('normalization_outcome', schema=None) as batch_op:
        batch_op.drop_index('ix_normalization_outcome_ingest_attempt')

    op.drop_table('normalization_outcome')
