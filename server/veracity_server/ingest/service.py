"""Ingest state changes: authenticate a connector key, record a heartbeat, store a snapshot.

A heartbeat is ONE small UPDATE of the connector row. A snapshot is stored normalized in one
transaction with bulk inserts; `(user_id, snapshot_id)` is unique, so a replay — even two copies
racing each other — is stored once and answered as a duplicate. The SQL lives in
server/veracity_server/ingest/store.py (plain statements: this is the hot path).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from veracity_contract.connector import HeartbeatRequest, SnapshotRequest
from veracity_server.credentials import CONNECTOR_KEY_PREFIX, secret_hash
from veracity_server.db import Database
from veracity_server.errors import InvalidKey, InvalidRequest
from veracity_server.ingest.store import ingest_sql

# A snapshot stamped further ahead than this (a connector with a wrong clock) would stay the
# "current" state until real time caught up; refuse it instead.
MAX_CLOCK_SKEW = timedelta(hours=1)
MAX_KEY_LENGTH = 200


def connector_key_hash(authorization: str | None) -> str:
    """The stored hash of the Bearer key in `authorization`; InvalidKey when it is unusable."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(CONNECTOR_KEY_PREFIX) or (
            len(key) > MAX_KEY_LENGTH):
        raise InvalidKey()
    return secret_hash(key)


def active_connector(database: Database, connection: Any, key_hash: str) -> tuple[str, int]:
    """(connector id, user id) of the unrevoked connector with this key; InvalidKey otherwise."""
    sql = ingest_sql(database.engine.dialect.name)
    cursor = connection.cursor()
    try:
        cursor.execute(sql.active_connector, (key_hash,))
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        raise InvalidKey()
    return row[0], row[1]


def record_heartbeat(database: Database, connection: Any, key_hash: str,
                     heartbeat: HeartbeatRequest, now: datetime) -> None:
    """Update the connector's liveness and gateway report; InvalidKey if unknown or revoked."""
    sql = ingest_sql(database.engine.dialect.name)
    gateway = heartbeat.gateway
    parameters = (sql.time(now), heartbeat.connector_version, heartbeat.uptime_s,
                  sql.time(heartbeat.last_snapshot_at), gateway.state, gateway.message,
                  gateway.port, key_hash)
    with database.write_transaction(connection) as cursor:
        cursor.execute(sql.heartbeat, parameters)
        updated = cursor.rowcount
    if updated != 1:
        raise InvalidKey()


def store_snapshot(database: Database, connection: Any, connector_id: str, user_id: int,
                   snapshot: SnapshotRequest, now: datetime) -> bool:
    """Store `snapshot` for the user; returns True when it was already stored (a replay)."""
    if snapshot.taken_at > now + MAX_CLOCK_SKEW:
        raise InvalidRequest("taken_at: more than an hour in the future; check the clock of the "
                             "machine the connector runs on")
    sql = ingest_sql(database.engine.dialect.name)
    snapshot_id = str(snapshot.snapshot_id)
    taken_at = sql.time(snapshot.taken_at)
    # Every parameter is ready before the write lock is taken: other writers wait only for the
    # database work itself.
    accounts = [((user_id, taken_at, account.account_id, account.base_currency,
                  sql.number(account.net_liquidation), sql.number(account.cash)),
                 sql.insert_positions.values(account.positions or ()),
                 sql.insert_stop_orders.values(account.stop_orders or ()))
                for account in snapshot.accounts]
    # The DB-API cursor raises the driver's own error, not SQLAlchemy's wrapper.
    duplicate_error = database.engine.dialect.loaded_dbapi.IntegrityError
    try:
        with database.write_transaction(connection) as cursor:
            cursor.execute(sql.insert_snapshot,
                           (user_id, connector_id, snapshot_id, taken_at, sql.time(now)))
            snapshot_pk = _returned_id(cursor)
            for account_values, positions, stop_orders in accounts:
                cursor.execute(sql.insert_account, (snapshot_pk, *account_values))
                account_pk = _returned_id(cursor)
                sql.insert_positions.run(cursor, account_pk, positions)
                sql.insert_stop_orders.run(cursor, account_pk, stop_orders)
            cursor.execute(sql.advance_last_snapshot, (taken_at, connector_id, taken_at))
    except duplicate_error:
        # The unique (user_id, snapshot_id) refused a replay (possibly one racing this one).
        if _already_stored(database, connection, user_id, snapshot_id):
            return True
        raise
    return False


def _returned_id(cursor: Any) -> int:
    """The id an INSERT ... RETURNING id gave back."""
    row = cursor.fetchone()
    assert row is not None, "INSERT ... RETURNING id returned no row"
    return int(row[0])


def _already_stored(database: Database, connection: Any, user_id: int,
                    snapshot_id: str) -> bool:
    sql = ingest_sql(database.engine.dialect.name)
    cursor = connection.cursor()
    try:
        cursor.execute(sql.snapshot_exists, (user_id, snapshot_id))
        found = cursor.fetchone() is not None
    finally:
        cursor.close()
    connection.rollback()  # end the read (PostgreSQL opened a transaction for it)
    return found
