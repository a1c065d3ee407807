"""daily history: NAV per account and day from the gateway's Portfolio Analyst or Flex, Flex's
end-of-day positions, and the reconciliation differences (issue 19)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:35:00.000000
"""

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daily_history_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=16), nullable=False),
    sa.Column('nav', veracity_server.columns.ExactDecimal(), nullable=False),
    sa.Column('position_count', sa.Integer(), nullable=True),
    sa.Column('positions', sa.LargeBinary(), nullable=True),
    sa.Column('received_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'account_id', 'report_date', 'source',
                        name='uq_daily_history_points_day')
    )
    with op.batch_alter_table('daily_history_points', schema=None) as batch_op:
        batch_op.create_index('ix_daily_history_points_user_date', ['user_id', 'report_date'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_daily_history_points_connector_id'),
                              ['connector_id'], unique=False)

    op.create_table('reconciliation_differences',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('conid', sa.BigInteger(), nullable=True),
    sa.Column('symbol', sa.String(length=64), nullable=True),
    sa.Column('currency', sa.String(length=16), nullable=True),
    sa.Column('live_value', sa.String(length=80), nullable=True),
    sa.Column('history_value', sa.String(length=80), nullable=True),
    sa.Column('live_taken_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('found_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reconciliation_differences', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_differences_user_date',
                              ['user_id', 'report_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_reconciliation_differences_connector_id'),
                              ['connector_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reconciliation_differences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_differences_connector_id'))
        batch_op.drop_index('ix_reconciliation_differences_user_date')
    op.drop_table('reconciliation_differences')
    with op.batch_alter_table('daily_history_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_daily_history_points_connector_id'))
        batch_op.drop_index('ix_daily_history_points_user_date')
    op.drop_table('daily_history_points')
