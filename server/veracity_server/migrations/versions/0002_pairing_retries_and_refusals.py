"""idempotent pairing, account ids for connectors, last refused snapshot per connector

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00.000000
"""

import uuid

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # users.public_id: added nullable, filled for existing users, then made required.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sa.String(length=36), nullable=True))
    users = sa.table('users', sa.column('id', sa.Integer()),
                     sa.column('public_id', sa.String(length=36)))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).fetchall():
        connection.execute(users.update().where(users.c.id == user_id)
                           .values(public_id=str(uuid.uuid4())))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('public_id', existing_type=sa.String(length=36), nullable=False)
        batch_op.create_unique_constraint('uq_users_public_id', ['public_id'])

    with op.batch_alter_table('pairing_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key_hash', sa.String(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('connector_id', sa.String(length=36), nullable=True))

    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_refusal_at', veracity_server.columns.UtcDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('last_refusal_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_refusal_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_refusal_message', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.drop_column('last_refusal_message')
        batch_op.drop_column('last_refusal_code')
        batch_op.drop_column('last_refusal_status')
        batch_op.drop_column('last_refusal_at')
    with op.batch_alter_table('pairing_tokens', schema=None) as batch_op:
        batch_op.drop_column('connector_id')
        batch_op.drop_column('idempotency_key_hash')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_public_id', type_='unique')
        batch_op.drop_column('public_id')
