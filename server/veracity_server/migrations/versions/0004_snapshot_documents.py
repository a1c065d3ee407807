"""snapshots as documents, a value series, the current projection on each connector

Each snapshot becomes one `snapshot_documents` row holding its body as zlib-compressed JSON
(decimals as exact strings), each of its accounts with a net liquidation a `value_points` row, and each connector
points at its newest snapshot (`current_document_id`) and counts the bytes it holds. The
normalized tables (snapshots, snapshot_accounts, positions, stop_orders) are carried over and
dropped; the downgrade carries the documents back into them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 21:20:00.000000
"""

import json
import zlib
from collections import defaultdict
from datetime import UTC
from decimal import Decimal
from typing import Any

from alembic import op
import sqlalchemy as sa
import veracity_server.columns


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BATCH = 500
POSITION_FIELDS = ("conid", "symbol", "description", "asset_class", "quantity", "market_price",
                   "market_value", "average_cost", "unrealized_pnl", "currency", "multiplier")
STOP_ORDER_FIELDS = ("order_id", "conid", "symbol", "side", "order_type", "quantity",
                     "stop_price", "limit_price", "trailing_amount", "trailing_unit",
                     "time_in_force", "status")
ACCOUNT_FIELDS = ("account_id", "base_currency", "net_liquidation", "cash")
UtcDateTime = veracity_server.columns.UtcDateTime
ExactDecimal = veracity_server.columns.ExactDecimal

snapshots = sa.table(
    'snapshots', sa.column('id', sa.Integer()), sa.column('user_id', sa.Integer()),
    sa.column('connector_id', sa.String()), sa.column('snapshot_id', sa.String()),
    sa.column('taken_at', UtcDateTime()), sa.column('received_at', UtcDateTime()))
snapshot_accounts = sa.table(
    'snapshot_accounts', sa.column('id', sa.Integer()), sa.column('snapshot_pk', sa.Integer()),
    sa.column('user_id', sa.Integer()), sa.column('taken_at', UtcDateTime()),
    sa.column('account_id', sa.String()), sa.column('base_currency', sa.String()),
    sa.column('net_liquidation', ExactDecimal()), sa.column('cash', ExactDecimal()))
positions = sa.table(
    'positions', sa.column('id', sa.Integer()), sa.column('snapshot_account_id', sa.Integer()),
    *[sa.column(name, ExactDecimal() if name in {
        "quantity", "market_price", "market_value", "average_cost", "unrealized_pnl",
        "multiplier"} else (sa.BigInteger() if name == "conid" else sa.String()))
      for name in POSITION_FIELDS])
stop_orders = sa.table(
    'stop_orders', sa.column('id', sa.Integer()), sa.column('snapshot_account_id', sa.Integer()),
    *[sa.column(name, ExactDecimal() if name in {
        "quantity", "stop_price", "limit_price", "trailing_amount"} else (
        sa.BigInteger() if name == "conid" else sa.String()))
      for name in STOP_ORDER_FIELDS])
documents = sa.table(
    'snapshot_documents', sa.column('id', sa.BigInteger()), sa.column('user_id', sa.Integer()),
    sa.column('connector_id', sa.String()), sa.column('snapshot_id', sa.String()),
    sa.column('taken_at', UtcDateTime()), sa.column('received_at', UtcDateTime()),
    sa.column('level', sa.SmallInteger()), sa.column('size_bytes', sa.Integer()),
    sa.column('body', sa.LargeBinary()))
value_points = sa.table(
    'value_points', sa.column('document_id', sa.BigInteger()), sa.column('user_id', sa.Integer()),
    sa.column('connector_id', sa.String()), sa.column('account_id', sa.String()),
    sa.column('currency', sa.String()), sa.column('taken_at', UtcDateTime()),
    sa.column('level', sa.SmallInteger()), sa.column('net_liquidation', ExactDecimal()))
connectors = sa.table(
    'connectors', sa.column('id', sa.String()), sa.column('current_document_id', sa.BigInteger()),
    sa.column('stored_bytes', sa.BigInteger()))


def _json_value(value: Any) -> Any:
    # Exact decimal text, as the connector sends it: never a binary float.
    return format(value, "f") if isinstance(value, Decimal) else value


def _iso(moment: Any) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def upgrade() -> None:
    op.create_table('snapshot_documents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('snapshot_id', sa.String(length=36), nullable=False),
    sa.Column('taken_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('received_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('level', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'snapshot_id', name='uq_snapshot_documents_user_snapshot')
    )
    with op.batch_alter_table('snapshot_documents', schema=None) as batch_op:
        batch_op.create_index('ix_snapshot_documents_connector_taken', ['connector_id', 'taken_at'], unique=False)

    op.create_table('value_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=16), nullable=True),
    sa.Column('taken_at', veracity_server.columns.UtcDateTime(), nullable=False),
    sa.Column('level', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('net_liquidation', veracity_server.columns.ExactDecimal(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['document_id'], ['snapshot_documents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('value_points', schema=None) as batch_op:
        batch_op.create_index('ix_value_points_connector_taken', ['connector_id', 'taken_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_value_points_document_id'), ['document_id'], unique=False)
        batch_op.create_index('ix_value_points_user_level_taken', ['user_id', 'level', 'taken_at'], unique=False)

    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current_document_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('stored_bytes', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('retention_due_at', veracity_server.columns.UtcDateTime(), nullable=True))

    _carry_snapshots_into_documents(op.get_bind())

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


def _children(connection: Any, table: Any, fields: tuple[str, ...],
              account_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if account_pks:
        rows = connection.execute(
            sa.select(table.c.snapshot_account_id, *[table.c[name] for name in fields])
            .where(table.c.snapshot_account_id.in_(account_pks)).order_by(table.c.id))
        for row in rows:
            grouped[row[0]].append(dict(zip(fields, map(_json_value, row[1:]), strict=True)))
    return grouped


def _carry_snapshots_into_documents(connection: Any) -> None:
    """Every stored snapshot as a document (in batches), its value points, each connector's
    current document (newest taken_at; the one stored last on a tie) and stored bytes."""
    last_id = 0
    newest: dict[str, tuple[Any, int, int]] = {}
    stored: dict[str, int] = defaultdict(int)
    while True:
        batch = connection.execute(
            sa.select(snapshots).where(snapshots.c.id > last_id).order_by(snapshots.c.id)
            .limit(BATCH)).all()
        if not batch:
            break
        last_id = batch[-1].id
        accounts = connection.execute(
            sa.select(snapshot_accounts)
            .where(snapshot_accounts.c.snapshot_pk.in_([row.id for row in batch]))
            .order_by(snapshot_accounts.c.id)).all()
        account_pks = [account.id for account in accounts]
        account_positions = _children(connection, positions, POSITION_FIELDS, account_pks)
        account_orders = _children(connection, stop_orders, STOP_ORDER_FIELDS, account_pks)
        by_snapshot: dict[int, list[Any]] = defaultdict(list)
        for account in accounts:
            by_snapshot[account.snapshot_pk].append(account)
        for snapshot in batch:
            body = json.dumps({
                "snapshot_id": snapshot.snapshot_id, "taken_at": _iso(snapshot.taken_at),
                "accounts": [{
                    **{name: _json_value(getattr(account, name)) for name in ACCOUNT_FIELDS},
                    "positions": account_positions[account.id],
                    "stop_orders": account_orders[account.id],
                } for account in by_snapshot[snapshot.id]],
            }, separators=(",", ":"), ensure_ascii=False)
            compressed = zlib.compress(body.encode("utf-8"), 1)
            size = len(compressed)
            document_id = connection.execute(documents.insert().values(
                user_id=snapshot.user_id, connector_id=snapshot.connector_id,
                snapshot_id=snapshot.snapshot_id, taken_at=snapshot.taken_at,
                received_at=snapshot.received_at, level=-1, size_bytes=size, body=compressed,
            ).returning(documents.c.id)).scalar_one()
            points = [{"document_id": document_id, "user_id": snapshot.user_id,
                       "connector_id": snapshot.connector_id, "account_id": account.account_id,
                       "currency": account.base_currency, "taken_at": snapshot.taken_at,
                       "level": -1, "net_liquidation": account.net_liquidation}
                      for account in by_snapshot[snapshot.id]
                      if account.net_liquidation is not None]
            if points:
                connection.execute(value_points.insert(), points)
            stored[snapshot.connector_id] += size
            key = (snapshot.taken_at, document_id)
            if snapshot.connector_id not in newest or key >= newest[snapshot.connector_id][:2]:
                newest[snapshot.connector_id] = (snapshot.taken_at, document_id, 0)
    for connector_id, (_taken_at, document_id, _unused) in newest.items():
        connection.execute(connectors.update().where(connectors.c.id == connector_id).values(
            current_document_id=document_id, stored_bytes=stored[connector_id]))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        # Batch mode rebuilds `connectors` to drop its columns; with foreign keys on, dropping
        # the old table would cascade into the snapshots just carried back.
        op.execute('PRAGMA foreign_keys=OFF')
    _create_normalized_tables()
    _carry_documents_into_snapshots(op.get_bind())
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.drop_column('retention_due_at')
        batch_op.drop_column('stored_bytes')
        batch_op.drop_column('current_document_id')
    with op.batch_alter_table('value_points', schema=None) as batch_op:
        batch_op.drop_index('ix_value_points_user_level_taken')
        batch_op.drop_index(batch_op.f('ix_value_points_document_id'))
        batch_op.drop_index('ix_value_points_connector_taken')
    op.drop_table('value_points')
    with op.batch_alter_table('snapshot_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_snapshot_documents_connector_taken')
    op.drop_table('snapshot_documents')
    if sqlite:
        op.execute('PRAGMA foreign_keys=ON')


def _carry_documents_into_snapshots(connection: Any) -> None:
    """Each document back into the normalized rows (numbers parsed as exact decimals)."""
    last_id = 0
    while True:
        batch = connection.execute(
            sa.select(documents).where(documents.c.id > last_id).order_by(documents.c.id)
            .limit(BATCH)).all()
        if not batch:
            break
        last_id = batch[-1].id
        for document in batch:
            body = json.loads(zlib.decompress(document.body), parse_float=Decimal)
            snapshot_pk = connection.execute(snapshots.insert().values(
                user_id=document.user_id, connector_id=document.connector_id,
                snapshot_id=document.snapshot_id, taken_at=document.taken_at,
                received_at=document.received_at).returning(snapshots.c.id)).scalar_one()
            for account in body["accounts"]:
                account_pk = connection.execute(snapshot_accounts.insert().values(
                    snapshot_pk=snapshot_pk, user_id=document.user_id,
                    taken_at=document.taken_at,
                    **{name: _decimal_or_value(account.get(name)) if name in {
                        "net_liquidation", "cash"} else account.get(name)
                       for name in ACCOUNT_FIELDS}).returning(snapshot_accounts.c.id)
                ).scalar_one()
                for table, fields, rows in (
                        (positions, POSITION_FIELDS, account.get("positions") or []),
                        (stop_orders, STOP_ORDER_FIELDS, account.get("stop_orders") or [])):
                    if rows:
                        connection.execute(table.insert(), [
                            {"snapshot_account_id": account_pk,
                             **{name: _field_value(table, name, row.get(name))
                                for name in fields}} for row in rows])


def _decimal_or_value(value: Any) -> Any:
    return None if value is None else Decimal(str(value))


def _field_value(table: Any, name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(table.c[name].type, ExactDecimal):
        return Decimal(str(value))
    if name == "order_id":
        return str(value)
    return value


def _create_normalized_tables() -> None:
    """The tables of revision 0001 that this revision replaces (for the downgrade)."""
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

