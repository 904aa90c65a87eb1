"""intake: transfer type, step, hidden flag, one active transfer per name; resumable upload sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

TRANSFER_TYPE = sa.Enum('standard', 'zipped_directory', 'unzipped_bag', 'zipped_bag', name='transfertype',
                        native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transfer_type', TRANSFER_TYPE, nullable=True))
        batch_op.add_column(sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('hidden', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('active_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_transfer_hidden'), ['hidden'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_transfer_active_name'), ['active_name'])
    op.create_table('upload_session',
    sa.Column('uuid', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('archive_format', sa.Enum('zip', 'tar', 'tar_gz', 'seven_z', name='archiveformat', native_enum=False,
                                        length=16), nullable=True),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column('transfer_type', TRANSFER_TYPE, nullable=True),
    sa.Column('auto_approve', sa.Boolean(), nullable=False),
    sa.Column('transfer_uuid', sa.Uuid(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('uuid')
    )


def downgrade() -> None:
    op.drop_table('upload_session')
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_transfer_active_name'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_transfer_hidden'))
        batch_op.drop_column('active_name')
        batch_op.drop_column('hidden')
        batch_op.drop_column('step')
        batch_op.drop_column('transfer_type')
