"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 20:11:51.010372
"""

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('connectors',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('platform', sa.String(length=255), nullable=False),
    sa.Column('connector_version', sa.String(length=64), nullable=False),
    sa.Column('created_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('last_seen_at', veracity_server.columns.UtcDateTime(), nullable=True),
    sa.Column('last_snapshot_at', veracity_server.columns.UtcDateTime(), nullable=True),
    sa.Column('reported_last_snapshot_at', veracity_server.columns.UtcDateTime(), nullable=True),
    sa.Column('revoked_at', veracity_server.columns.UtcDateTime(), nullable=True),
    sa.Column('uptime_s', sa.BigInteger(), nullable=True),
    sa.Column('gateway_state', sa.String(length=32), nullable=True),
    sa.Column('gateway_message', sa.Text(), nullable=True),
    sa.Column('gateway_port', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connectors_user_id'), ['user_id'], unique=False)

    op.create_table('pairing_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('expires_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('used_at', veracity_server.columns.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('pairing_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pairing_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('snapshot_id', sa.String(length=36), nullable=False),
    sa.Column('taken_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('received_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'snapshot_id', name='uq_snapshots_user_snapshot')
    )
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snapshots_connector_id'), ['connector_id'], unique=False)

    op.create_table('snapshot_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_pk', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('base_currency', sa.String(length=16), nullable=True),
    sa.Column('net_liquidation', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('cash', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_pk'], ['snapshots.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('snapshot_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snapshot_accounts_snapshot_pk'), ['snapshot_pk'], unique=False)
        batch_op.create_index('ix_snapshot_accounts_user_account_taken', ['user_id', 'account_id', 'taken_at'], unique=False)

    op.create_table('positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_account_id', sa.Integer(), nullable=False),
    sa.Column('conid', sa.BigInteger(), nullable=False),
    sa.Column('symbol', sa.String(length=64), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('asset_class', sa.String(length=32), nullable=True),
    sa.Column('quantity', veracity_server.columns.ExactDecimal(), nullable=False),
    sa.Column('market_price', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('market_value', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('average_cost', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('unrealized_pnl', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('currency', sa.String(length=16), nullable=True),
    sa.Column('multiplier', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_account_id'], ['snapshot_accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_positions_snapshot_account_id'), ['snapshot_account_id'], unique=False)

    op.create_table('stop_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_account_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('conid', sa.BigInteger(), nullable=False),
    sa.Column('symbol', sa.String(length=64), nullable=True),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('order_type', sa.String(length=32), nullable=True),
    sa.Column('quantity', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('stop_price', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('limit_price', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('trailing_amount', veracity_server.columns.ExactDecimal(), nullable=True),
    sa.Column('trailing_unit', sa.String(length=16), nullable=True),
    sa.Column('time_in_force', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_account_id'], ['snapshot_accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stop_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stop_orders_snapshot_account_id'), ['snapshot_account_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('stop_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stop_orders_snapshot_account_id'))

    op.drop_table('stop_orders')
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_positions_snapshot_account_id'))

    op.drop_table('positions')
    with op.batch_alter_table('snapshot_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_snapshot_accounts_user_account_taken')
        batch_op.drop_index(batch_op.f('ix_snapshot_accounts_snapshot_pk'))

    op.drop_table('snapshot_accounts')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshots_connector_id'))

    op.drop_table('snapshots')
    with op.batch_alter_table('pairing_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairing_tokens_user_id'))

    op.drop_table('pairing_tokens')
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connectors_user_id'))

    op.drop_table('connectors')
    op.drop_table('users')
    
