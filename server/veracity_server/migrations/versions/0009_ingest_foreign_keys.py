"""ingest tables: drop the foreign keys that repeat a chain (PostgreSQL), issue 20

A stored snapshot's document and value points each named the user (and the points the connector)
with a foreign key of its own, beside the chain value point -> document -> connector -> user that
already cascades every delete. On PostgreSQL each foreign-key check locks its parent row (FOR KEY
SHARE), and the user's row, hit by every snapshot of every connector of the user, had that lock
written to it each time: the snapshot statement took 410 µs with all five checks and 255 µs with
the chain's two (measured on the test cluster, one client, 1,000 statements). SQLite's checks take
no row locks and cost a few µs; its tables keep them (rebuilding snapshot_documents with foreign
keys on would cascade-delete the value points).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:20:00.000000
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# (table, column, referred table): PostgreSQL named them <table>_<column>_fkey.
REPEATED_FOREIGN_KEYS = (("snapshot_documents", "user_id", "users"),
                         ("value_points", "user_id", "users"),
                         ("value_points", "connector_id", "connectors"))


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column, _ in REPEATED_FOREIGN_KEYS:
        op.drop_constraint(f'{table}_{column}_fkey', table, type_='foreignkey')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column, referred in REPEATED_FOREIGN_KEYS:
        op.create_foreign_key(f'{table}_{column}_fkey', table, referred, [column], ['id'],
                              ondelete='CASCADE')
