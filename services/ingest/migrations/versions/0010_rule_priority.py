"""format rules get a priority: the order in which the enabled rules of one purpose and format are tried

Revision ID: 0010_rule_priority
Revises: 0009_normalization
Create Date: 2026-12-04 17:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_rule_priority'
down_revision = '0009_normalization'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fpr_rule') as batch:
        batch.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='100'))


def downgrade() -> None:
    with op.batch_alter_table('fpr_rule') as batch:
        batch.drop_column('priority')
