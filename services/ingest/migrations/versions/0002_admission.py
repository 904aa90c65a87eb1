"""admission

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:13:12.481570
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_ingest_admitted_at'), ['admitted_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('ingest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_admitted_at'))
        batch_op.drop_column('admitted_at')


