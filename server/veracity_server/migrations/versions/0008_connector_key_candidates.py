"""connector key candidates: the keys answered to repeats of one idempotent exchange, each valid
until the connector first authenticates with one of them (issue 16)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:45:00.000000
"""

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connector_key_candidates',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_hash')
    )
    with op.batch_alter_table('connector_key_candidates', schema=None) as batch_op:
        batch_op.create_index('ix_connector_key_candidates_connector_id', ['connector_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('connector_key_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_connector_key_candidates_connector_id')
    op.drop_table('connector_key_candidates')
