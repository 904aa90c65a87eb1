"""processing configurations and decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:17:35.228469
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('processing_config',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('ingest', schema=None) as batch_op:
        # Ingests created before configurations existed ran as `automated` does.
        batch_op.add_column(sa.Column('processing_config', sqlmodel.sql.sqltypes.AutoString(length=100),
                                      nullable=False, server_default='automated'))
        batch_op.add_column(sa.Column('config_fields', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('decision', sa.JSON(), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.drop_column('decision')
        batch_op.drop_column('config_fields')
        batch_op.drop_column('processing_config')

    op.drop_table('processing_config')

