"""connector audit log (events per connector) and what the heartbeat now reports: the client's
last IP, when the gateway state last changed, the connector's health summary (issue 18)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:40:00.000000
"""

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connector_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('connector_events', schema=None) as batch_op:
        batch_op.create_index('ix_connector_events_connector_at', ['connector_id', 'at', 'id'], unique=False)

    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('ip_changed_at', veracity_server.columns.UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('gateway_state_since', veracity_server.columns.UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('health', sa.Text(), nullable=True))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        # Batch mode rebuilds `connectors`; with foreign keys on, dropping the old table would
        # cascade into everything that refers to it.
        op.execute('PRAGMA foreign_keys=OFF')
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.drop_column('health')
        batch_op.drop_column('gateway_state_since')
        batch_op.drop_column('ip_changed_at')
        batch_op.drop_column('last_ip')
    with op.batch_alter_table('connector_events', schema=None) as batch_op:
        batch_op.drop_index('ix_connector_events_connector_at')
    op.drop_table('connector_events')
    if sqlite:
        op.execute('PRAGMA foreign_keys=ON')
