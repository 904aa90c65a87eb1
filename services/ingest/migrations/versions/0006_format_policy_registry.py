"""format policy registry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:41:17.755217
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel



revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fpr_format',
    sa.Column('shipped_version', sa.Integer(), nullable=True),
    sa.Column('modified', sa.Boolean(), nullable=False),
    sa.Column('puid', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('mime', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('group', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.PrimaryKeyConstraint('puid')
    )
    with op.batch_alter_table('fpr_format', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fpr_format_group'), ['group'], unique=False)

    op.create_table('fpr_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipped_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('fpr_tool',
    sa.Column('shipped_version', sa.Integer(), nullable=True),
    sa.Column('modified', sa.Boolean(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('version_argv', sa.JSON(), nullable=False),
    sa.Column('version_pattern', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('fpr_command',
    sa.Column('shipped_version', sa.Integer(), nullable=True),
    sa.Column('modified', sa.Boolean(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('tool', sa.String(length=100), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('argv', sa.JSON(), nullable=False),
    sa.Column('output_extension', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('output_puids', sa.JSON(), nullable=False),
    sa.Column('stdout_is_output', sa.Boolean(), nullable=False),
    sa.Column('verifier', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('event_detail', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('timeout_seconds', sa.Float(), nullable=False),
    sa.Column('max_output_bytes', sa.BigInteger(), nullable=False),
    sa.Column('verdict', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['tool'], ['fpr_tool.name'], ),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('fpr_command', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fpr_command_tool'), ['tool'], unique=False)

    op.create_table('fpr_rule',
    sa.Column('shipped_version', sa.Integer(), nullable=True),
    sa.Column('modified', sa.Boolean(), nullable=False),
    sa.Column('uuid', sa.Uuid(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('puid', sa.String(length=60), nullable=False),
    sa.Column('command', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('successes', sa.BigInteger(), nullable=False),
    sa.Column('failures', sa.BigInteger(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['command'], ['fpr_command.name'], ),
    sa.ForeignKeyConstraint(['puid'], ['fpr_format.puid'], ),
    sa.PrimaryKeyConstraint('uuid'),
    sa.UniqueConstraint('purpose', 'puid', 'command', name='uq_fpr_rule_purpose_puid_command')
    )
    with op.batch_alter_table('fpr_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fpr_rule_command'), ['command'], unique=False)
        batch_op.create_index('ix_fpr_rule_puid_purpose', ['puid', 'purpose'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('fpr_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_fpr_rule_puid_purpose')
        batch_op.drop_index(batch_op.f('ix_fpr_rule_command'))

    op.drop_table('fpr_rule')
    with op.batch_alter_table('fpr_command', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fpr_command_tool'))

    op.drop_table('fpr_command')
    op.drop_table('fpr_tool')
    op.drop_table('fpr_state')
    with op.batch_alter_table('fpr_format', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fpr_format_group'))

    op.drop_table('fpr_format')

