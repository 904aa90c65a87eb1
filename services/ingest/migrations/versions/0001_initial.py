"""initial

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 09:19:28.073033
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('ingest',
    sa.Column('uuid', sa.Uuid(), nullable=False),
    sa.Column('transfer_uuid', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('status', sa.Enum('queued', 'processing', 'stored', 'failed', name='ingeststatus', native_enum=False, length=32), nullable=False),
    sa.Column('current_job', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=8000), nullable=True),
    sa.Column('file_count', sa.BigInteger(), nullable=True),
    sa.Column('aip_path', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('aip_location_uuid', sa.Uuid(), nullable=True),
    sa.Column('aip_size', sa.BigInteger(), nullable=True),
    sa.Column('aip_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('uuid')
    )
    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_transfer_uuid'), ['transfer_uuid'], unique=True)

    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ingest_uuid', sa.Uuid(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('microservice', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sa.Enum('running', 'completed', 'failed', name='jobstatus', native_enum=False, length=32), nullable=False),
    sa.Column('files_total', sa.Integer(), nullable=True),
    sa.Column('files_done', sa.Integer(), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=8000), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ingest_uuid'], ['ingest.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ingest_uuid', 'key')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_ingest_uuid'), ['ingest_uuid'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_ingest_uuid'))

    op.drop_table('job')
    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_transfer_uuid'))
        batch_op.drop_index(batch_op.f('ix_ingest_status'))

    op.drop_table('ingest')

