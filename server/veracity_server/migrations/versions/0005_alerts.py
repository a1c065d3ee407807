"""alerts: per-user alert settings, incidents per connector, deliveries with retry state

Also the refused-key record (a revoked connector still trying), the workers' leases, and
APScheduler's job store table (created here so several workers starting at once never race to
create it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UtcDateTime = veracity_server.columns.UtcDateTime
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('alert_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email_enabled', sa.Boolean(), nullable=False),
    sa.Column('email_address', sa.String(length=320), nullable=True),
    sa.Column('webhook_enabled', sa.Boolean(), nullable=False),
    sa.Column('webhook_url', sa.String(length=2000), nullable=True),
    sa.Column('webhook_secret', sa.String(length=100), nullable=True),
    sa.Column('silent_after_s', sa.Integer(), nullable=False),
    sa.Column('login_after_s', sa.Integer(), nullable=False),
    sa.Column('competing_after_s', sa.Integer(), nullable=False),
    sa.Column('update_alerts', sa.Boolean(), nullable=False),
    sa.Column('schedule_kind', sa.String(length=16), nullable=False),
    sa.Column('schedule_days', sa.String(length=20), nullable=False),
    sa.Column('schedule_start', sa.String(length=5), nullable=False),
    sa.Column('schedule_end', sa.String(length=5), nullable=False),
    sa.Column('schedule_timezone', sa.String(length=64), nullable=False),
    sa.Column('snoozed_until', UtcDateTime(), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('alert_incidents',
    sa.Column('id', BigId, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('notified_at', UtcDateTime(), nullable=True),
    sa.Column('resolved_at', UtcDateTime(), nullable=True),
    sa.Column('resolve_notified_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_incidents', schema=None) as batch_op:
        batch_op.create_index('uq_alert_incidents_open', ['connector_id', 'kind'], unique=True,
                              sqlite_where=sa.text('resolved_at IS NULL'),
                              postgresql_where=sa.text('resolved_at IS NULL'))
        batch_op.create_index('ix_alert_incidents_user_started', ['user_id', 'started_at'],
                              unique=False)
    op.create_table('alert_deliveries',
    sa.Column('id', BigId, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('incident_id', BigId, nullable=True),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=2000), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('next_attempt_at', UtcDateTime(), nullable=True),
    sa.Column('last_attempt_at', UtcDateTime(), nullable=True),
    sa.Column('claimed_until', UtcDateTime(), nullable=True),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['alert_incidents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_alert_deliveries_due', ['status', 'next_attempt_at'],
                              unique=False)
        batch_op.create_index('ix_alert_deliveries_user_created', ['user_id', 'created_at'],
                              unique=False)
    op.create_table('alert_key_refusals',
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('first_refused_at', UtcDateTime(), nullable=False),
    sa.Column('last_refused_at', UtcDateTime(), nullable=False),
    sa.Column('refusals', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connector_id')
    )
    op.create_table('alert_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('until', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('apscheduler_jobs',
    sa.Column('id', sa.String(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_apscheduler_jobs_next_run_time', ['next_run_time'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('apscheduler_jobs')
    op.drop_table('alert_leases')
    op.drop_table('alert_key_refusals')
    op.drop_table('alert_deliveries')
    op.drop_table('alert_incidents')
    op.drop_table('alert_settings')
