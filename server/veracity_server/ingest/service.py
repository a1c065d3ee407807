"""Ingest state changes: authenticate a connector key, record a heartbeat, store a snapshot.

A heartbeat is one UPDATE of the connector row that changes it only when the report changed or
its `last_seen_at` is older than HEARTBEAT_WRITE_EVERY: a connector that beats fast costs no
writes.
A snapshot is stored as its validated document, with its value points and the connector's
current state, atomically (see server/veracity_server/ingest/store.py); `(user_id,
snapshot_id)` is unique, so a replay, even two copies racing each other, is stored once and
answered as a duplicate.
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from werkzeug.exceptions import HTTPException

from veracity_contract.connector import HeartbeatRequest
from veracity_server import audit
from veracity_server.credentials import CONNECTOR_KEY_PREFIX, secret_hash
from veracity_server.db import Database
from veracity_server.errors import (
    HTTP_ERROR_CODES,
    HTTP_ERROR_MESSAGES,
    ApiError,
    InvalidKey,
    InvalidRequest,
)
from veracity_server.ingest.snapshot_facts import SnapshotFacts
from veracity_server.ingest.store import IngestSql, ingest_sql
from veracity_server.models import Connector
from veracity_server.pairing.keys import claim_candidate_key

MAX_KEY_LENGTH = 200
IP_MAX_LENGTH = 45  # an IPv6 address in text, the longest form
REFUSAL_MESSAGE_MAX_LENGTH = 1000
# "Online" is judged in heartbeat intervals (a minute by default): a last_seen_at a few
# seconds old says the same, and skipping those writes keeps a fast-beating connector cheap.
HEARTBEAT_WRITE_EVERY = timedelta(seconds=5)


@dataclass(frozen=True)
class ActiveConnector:
    """The unrevoked connector a key belongs to, and what its user stores."""

    connector_id: str
    user_id: int
    retention_due_at: datetime | None
    user_stored_bytes: int
    last_ip: str | None = None


def connector_key_hash(authorization: str | None) -> str:
    """The stored hash of the Bearer key in `authorization`; InvalidKey when it is unusable."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(CONNECTOR_KEY_PREFIX) or (
            len(key) > MAX_KEY_LENGTH):
        raise InvalidKey()
    return secret_hash(key)


def active_connector(database: Database, connection: Any, key_hash: str) -> ActiveConnector:
    """The unrevoked connector with this key; InvalidKey otherwise."""
    sql = ingest_sql(database.engine.dialect.name)
    cursor = connection.cursor()
    try:
        cursor.execute(sql.active_connector, (key_hash,))
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        # A connector's first request holds a candidate key (veracity_server/pairing/keys.py).
        if not claim_candidate_key(database, connection, key_hash):
            raise InvalidKey()
        return active_connector(database, connection, key_hash)
    return ActiveConnector(row[0], row[1], sql.stored_time(row[2]), int(row[4]), row[3])


def client_ip(remote_addr: str | None) -> str | None:
    """The request's client address as kept on the connector (ProxyFix has applied the
    trusted proxies' X-Forwarded-For already)."""
    return remote_addr[:IP_MAX_LENGTH] if remote_addr else None


def note_snapshot_ip(database: Database, connection: Any, connector: ActiveConnector,
                     ip: str | None, now: datetime) -> None:
    """A snapshot from another IP than the one loaded with its key: keep it, log it once.

    Compared with what the key's one read loaded: an unchanged IP costs nothing."""
    if ip is None or ip == connector.last_ip or connector.last_ip is None:
        return
    sql = ingest_sql(database.engine.dialect.name)
    with database.write_transaction(connection) as cursor:
        cursor.execute(sql.move_ip, (ip, sql.time(now), connector.connector_id, ip))
        if cursor.rowcount == 1:
            cursor.execute(sql.insert_event, (connector.connector_id, audit.NEW_IP,
                                              sql.time(now), audit.detail_json({"ip": ip})))


class RecentHeartbeats:
    """What this process wrote for each key lately: (when, the report), bounded.

    A repeat of the same report within HEARTBEAT_WRITE_EVERY needs no write, only a read that
    the key is still valid (a revocation takes effect at the next request, whichever worker or
    instance made it). Connectors beat once a minute, so in production nearly every heartbeat
    writes; this serves bursts.
    """

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, tuple[float, tuple[Any, ...]]] = {}

    def is_fresh(self, key_hash: str, report: tuple[Any, ...]) -> bool:
        """True when this process wrote `report` for the key within HEARTBEAT_WRITE_EVERY."""
        seen = self._written.get(key_hash)
        return seen is not None and seen[1] == report and (
            time.monotonic() - seen[0] < HEARTBEAT_WRITE_EVERY.total_seconds())

    def wrote(self, key_hash: str, report: tuple[Any, ...]) -> None:
        """Remember that `report` was just written for the key."""
        with self._lock:
            if len(self._written) >= self.MAX_KEYS:
                self._written.clear()
            self._written[key_hash] = (time.monotonic(), report)


recent_heartbeats = RecentHeartbeats()


def record_heartbeat(database: Database, connection: Any, key_hash: str,
                     heartbeat: HeartbeatRequest, now: datetime, ip: str | None = None) -> None:
    """Update the connector's liveness and gateway report; InvalidKey if unknown or revoked.

    One UPDATE, which changes nothing when the report is the same and last_seen_at is younger
    than HEARTBEAT_WRITE_EVERY (then a read tells "nothing to write" from a bad key). A repeat
    this process wrote itself moments ago costs only that read.

    The same UPDATE tells whether the gateway state or the client IP changed (it returns when
    each last changed); only then is an audit event written, right after it.
    """
    sql = ingest_sql(database.engine.dialect.name)
    gateway = heartbeat.gateway
    health = heartbeat.health.model_dump_json() if heartbeat.health is not None else None
    report = (heartbeat.connector_version, gateway.state, gateway.message, gateway.port, ip,
              health)
    if not recent_heartbeats.is_fresh(key_hash, report):
        stamp = sql.time(now)
        parameters = (stamp, heartbeat.connector_version, heartbeat.uptime_s,
                      sql.time(heartbeat.last_snapshot_at), gateway.state, stamp,
                      gateway.state, gateway.message, gateway.port, ip, stamp, ip, health,
                      key_hash, sql.time(now - HEARTBEAT_WRITE_EVERY), stamp, *report)
        with database.one_statement(connection) as cursor:
            cursor.execute(sql.heartbeat, parameters)
            rows = cursor.fetchall()
        # Events only when the gateway state or the IP changed: rare, so they follow in
        # their own transaction rather than costing every heartbeat a BEGIN and a COMMIT on
        # PostgreSQL. (Should the database fail between the two, the change is recorded on
        # the connector and only its event is missing.)
        events: list[tuple[Any, ...]] = []
        for connector_id, state_since, ip_changed_at in rows:
            if sql.stored_time(state_since) == now:
                events.append((connector_id, audit.SESSION_STATE, stamp, audit.detail_json(
                    {"state": gateway.state, "message": gateway.message})))
            if ip is not None and sql.stored_time(ip_changed_at) == now:
                events.append((connector_id, audit.NEW_IP, stamp,
                               audit.detail_json({"ip": ip})))
        if events:
            with database.write_transaction(connection) as cursor:
                for event in events:
                    cursor.execute(sql.insert_event, event)
        updated = len(rows)
        if updated == 1:
            recent_heartbeats.wrote(key_hash, report)
            return
    if not database.has_row(connection, sql.connector_exists, (key_hash,)):
        # A connector's first request holds a candidate key (veracity_server/pairing/keys.py):
        # once it is the connector's key, the heartbeat is recorded with it.
        if not claim_candidate_key(database, connection, key_hash):
            raise InvalidKey()
        record_heartbeat(database, connection, key_hash, heartbeat, now, ip)


def check_taken_at(snapshot: SnapshotFacts, now: datetime, max_future: timedelta) -> None:
    """Refuse a snapshot stamped in the future: it would stay "current" until real time caught
    up with a wrong clock (VERACITY_SNAPSHOT_MAX_FUTURE_S)."""
    if snapshot.taken_at > now + max_future:
        raise InvalidRequest(
            f"taken_at: more than {int(max_future.total_seconds())} seconds in the future; "
            f"check the clock of the machine the connector runs on")


def _document_parameters(sql: IngestSql, snapshot: SnapshotFacts, body: bytes,
                         now: datetime) -> tuple[dict[str, Any], int]:
    """PostgreSQL: the named parameters a snapshot's document and value points are stored
    with (see ingest/store.py), and how many points."""
    # Level 1: nearly all of the size saving for a fraction of the CPU of the default level.
    stored = zlib.compress(body, 1)
    parameters: dict[str, Any] = {
        "snapshot_id": str(snapshot.snapshot_id), "taken_at": sql.time(snapshot.taken_at),
        "received_at": sql.time(now), "size": len(stored), "body": stored}
    point_rows = 0
    for account in snapshot.accounts:
        if account.net_liquidation is not None:
            parameters[f"account_{point_rows}"] = account.account_id
            parameters[f"currency_{point_rows}"] = account.base_currency
            parameters[f"nav_{point_rows}"] = account.net_liquidation
            point_rows += 1
    return parameters, point_rows


@dataclass(frozen=True)
class StoredByKey:
    """The connector a snapshot stored by `store_snapshot_by_key` went to."""

    connector_id: str
    retention_due_at: datetime | None


def store_snapshot_by_key(database: Database, connection: Any, key_hash: str, ip: str | None,
                          storage_limit: int, snapshot: SnapshotFacts, body: bytes,
                          now: datetime) -> StoredByKey | None:
    """PostgreSQL: store a new snapshot for the key's active connector in one round trip.

    None when that is not the plain case (an unknown, revoked or candidate key, another IP
    than the connector's last, full storage, a repeated snapshot_id): nothing was written,
    and the general path (`active_connector`, `note_snapshot_ip`, the limits,
    `store_snapshot`) answers and records it.
    """
    sql = ingest_sql(database.engine.dialect.name)
    parameters, point_rows = _document_parameters(sql, snapshot, body, now)
    parameters.update(key_hash=key_hash, ip=ip, storage_limit=storage_limit)
    with database.one_statement(connection) as cursor:
        cursor.execute(sql.store_snapshot_by_key(point_rows), parameters)
        row = cursor.fetchone()
    if row is None or not row[2]:
        return None
    return StoredByKey(str(row[0]), sql.stored_time(row[1]))


def store_snapshot(database: Database, connection: Any, connector: ActiveConnector,
                   snapshot: SnapshotFacts, body: bytes, now: datetime) -> bool:
    """Store `snapshot` (validated from `body`); returns True when it was already stored."""
    sql = ingest_sql(database.engine.dialect.name)
    snapshot_id = str(snapshot.snapshot_id)
    # The DB-API cursor raises the driver's own error, not SQLAlchemy's wrapper.
    duplicate_error = database.engine.dialect.loaded_dbapi.IntegrityError
    try:
        if not sql.is_sqlite:
            parameters, point_rows = _document_parameters(sql, snapshot, body, now)
            parameters.update(user_id=connector.user_id, connector_id=connector.connector_id)
            with database.one_statement(connection) as cursor:
                cursor.execute(sql.store_snapshot(point_rows), parameters)
            return False
        taken_at = sql.time(snapshot.taken_at)
        # Level 1: nearly all of the size saving for a fraction of the CPU of the default level.
        stored = zlib.compress(body, 1)
        size = len(stored)
        points = [value for account in snapshot.accounts if account.net_liquidation is not None
                  for value in (connector.user_id, connector.connector_id, account.account_id,
                                account.base_currency, taken_at,
                                sql.number(account.net_liquidation))]
        point_rows = len(points) // 6
        with database.write_transaction(connection) as cursor:
            cursor.execute(sql.insert_document, (
                connector.user_id, connector.connector_id, snapshot_id, taken_at,
                sql.time(now), size, stored))
            document_id = _returned_id(cursor)
            if point_rows:
                point_values: list[Any] = []
                for row in range(point_rows):
                    point_values.append(document_id)
                    point_values.extend(points[row * 6:row * 6 + 6])
                cursor.execute(sql.insert_points(point_rows), point_values)
            cursor.execute(sql.advance_connector, (size, taken_at, document_id, taken_at,
                                                   taken_at, connector.connector_id))
    except duplicate_error:
        # The unique (user_id, snapshot_id) refused a replay (possibly one racing this one).
        if _already_stored(database, connection, connector.user_id, snapshot_id):
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
    database.end_read(connection)
    return found


@dataclass(frozen=True)
class Refusal:
    """Why a connector's snapshot was refused: the status, code and message it was answered."""

    status: int
    code: str
    message: str


def refusal_of(error: ApiError | HTTPException) -> Refusal | None:
    """The refusal `error` answers the connector with, or None if it is no refusal to record.

    401 (the key) and 429 (slow down) say nothing about the snapshot; 5xx is not a refusal.
    """
    if isinstance(error, ApiError):
        status, code, message = error.status, error.code, error.message
    else:
        status = error.code or 500
        code = HTTP_ERROR_CODES.get(status) or "bad_request"
        message = HTTP_ERROR_MESSAGES.get(status) or error.description or error.name
    if not 400 <= status < 500 or status in (401, 429):
        return None
    return Refusal(status, code, message[:REFUSAL_MESSAGE_MAX_LENGTH])


def record_refusal(database: Database, connector_id: str, refusal: Refusal,
                   now: datetime) -> None:
    """Remember the connector's last refused snapshot (the Profile page shows it) and log it."""
    with database.engine.begin() as connection:
        connection.execute(update(Connector).where(Connector.id == connector_id).values(
            last_refusal_at=now, last_refusal_status=refusal.status,
            last_refusal_code=refusal.code, last_refusal_message=refusal.message))
        audit.record_event(connection, connector_id, audit.REFUSAL,
                           {"status": refusal.status, "code": refusal.code,
                            "message": refusal.message}, at=now)
