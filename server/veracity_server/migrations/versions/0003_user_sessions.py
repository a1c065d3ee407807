"""server-side session records (logout ends a session everywhere; idle and absolute lifetimes)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 21:10:00.000000
"""

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sessions signed before this revision have no record and end at once: everyone logs in
    # again once after the upgrade.
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('last_seen_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('id_hash')
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
