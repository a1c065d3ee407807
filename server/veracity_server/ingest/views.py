"""Connector endpoints: heartbeat and snapshots. Parse, validate, one call, a short answer.

`latest_version` in the heartbeat answer is `VERACITY_LATEST_CONNECTOR_VERSION` (or null): part
of contract v1 for other clients; the connector itself learns of updates from the download
endpoints (Velopack feed or metadata), not from the heartbeat.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from veracity_contract.connector import (
    HeartbeatAnswer,
    HeartbeatRequest,
    SnapshotAnswer,
    SnapshotRequest,
)
from veracity_server.columns import iso_utc, utc_now
from veracity_server.db import database
from veracity_server.errors import ApiError
from veracity_server.history import retention
from veracity_server.ingest import service
from veracity_server.ingest.quotas import LIMIT_HEADER, quotas
from veracity_server.ingest.snapshot_reader import read_snapshot
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.requests_json import parse_body_bytes
from veracity_server.settings import current_settings

blueprint = Blueprint("ingest", __name__)


@blueprint.post("/api/v1/connector/heartbeat")
def heartbeat() -> ResponseReturnValue:
    """Record that the connector is alive and how its gateway is."""
    key_hash = service.connector_key_hash(request.headers.get("Authorization"))
    quotas().count_heartbeat(key_hash)
    db = database()
    with db.ingest_connection() as connection:
        try:
            body = parse_body_bytes(HeartbeatRequest)[0]
        except ApiError:
            # The happy path checks the key with its one read; a bad body from a bad key must
            # still say invalid_key, so the key is looked up here, on the error path only.
            service.active_connector(db, connection, key_hash)
            raise
        now = utc_now()
        service.record_heartbeat(db, connection, key_hash, body, now,
                                 service.client_ip(request.remote_addr))
    head, tail = _heartbeat_answer_parts()
    return current_app.response_class(head + iso_utc(now).encode() + tail,
                                      mimetype="application/json")


_SERVER_TIME_MARK = "server-time-goes-here"


def _heartbeat_answer_parts() -> tuple[bytes, bytes]:
    """The heartbeat's answer, as `jsonify` writes it, before and after the server time.

    The rest (intervals, latest version, limits) is fixed for the app's life: encoded once, not
    on every heartbeat (jsonify of the whole answer was ~3 % of a PostgreSQL heartbeat's CPU).
    """
    parts: tuple[bytes, bytes] | None = current_app.extensions.get("veracity_heartbeat_answer")
    if parts is None:
        settings = current_settings()
        whole = jsonify(
            server_time=_SERVER_TIME_MARK,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            snapshot_interval_s=settings.snapshot_interval_s,
            latest_version=settings.latest_connector_version,
            limits=quotas().advertised,
        ).get_data()
        head, tail = whole.split(_SERVER_TIME_MARK.encode())
        parts = current_app.extensions["veracity_heartbeat_answer"] = (head, tail)
    return parts


@blueprint.post("/api/v1/connector/snapshots")
def snapshots() -> ResponseReturnValue:
    """Store a portfolio snapshot (idempotent by snapshot_id)."""
    key_hash = service.connector_key_hash(request.headers.get("Authorization"))
    db = database()
    limits = quotas()
    settings = current_settings()
    limits.count_snapshot(key_hash)
    ip = service.client_ip(request.remote_addr)
    now = utc_now()
    refused: ApiError | HTTPException | None = None
    refusal: service.Refusal | None = None
    with db.ingest_connection() as connection:
        # The body first, its problem kept: the key is checked before anything is answered.
        problem: ApiError | HTTPException | None = None
        try:
            limits.check_body_size(request.content_length)
            body, stored = read_snapshot()
            service.check_taken_at(body, now, timedelta(seconds=settings.snapshot_max_future_s))
            limits.check_snapshot_shape(body)
        except (ApiError, HTTPException) as error:
            problem = error
        plain = None
        if problem is None and not db.is_sqlite:
            plain = service.store_snapshot_by_key(
                db, connection, key_hash, ip, limits.limits.storage_bytes_per_user, body,
                stored, now)
        if plain is None:
            connector = service.active_connector(db, connection, key_hash)
            service.note_snapshot_ip(db, connection, connector, ip, now)
            try:
                if problem is not None:
                    raise problem
                limits.check_storage(connector.user_stored_bytes)
                duplicate = service.store_snapshot(db, connection, connector, body, stored, now)
            except (ApiError, HTTPException) as error:
                refusal = service.refusal_of(error)
                if refusal is None:
                    raise
                refused = error
    if refused is not None and refusal is not None:
        # After the connection is back in the pool: the refusal is written on its own.
        service.record_refusal(db, connector.connector_id, refusal, utc_now())
        raise refused
    if plain is not None:
        connector_id, retention_due_at, duplicate = (plain.connector_id,
                                                     plain.retention_due_at, False)
    else:
        connector_id, retention_due_at = connector.connector_id, connector.retention_due_at
    if not duplicate:
        # Bounded work, once per retention interval per connector (see history/retention.py).
        retention.run_when_due(db, connector_id, retention_due_at, now, settings)
    return jsonify(snapshot_id=str(body.snapshot_id), duplicate=duplicate), (
        200 if duplicate else 201)


INVALID_KEY = error_response("invalid_key: unknown, malformed or revoked connector key")
HEARTBEATS_LIMITED = error_response("Too many heartbeats a minute",
                                    {"Retry-After": "Seconds to wait",
                                     LIMIT_HEADER: "The limit's name"})

declare_operations(blueprint, [
    Operation("POST", "/api/v1/connector/heartbeat", "Connector heartbeat", tag="connector",
              security="connector_key", request_model=HeartbeatRequest,
              responses={200: Response("Recorded", HeartbeatAnswer),
                         400: error_response("Malformed body"), 401: INVALID_KEY,
                         413: error_response("Body too large"), 429: HEARTBEATS_LIMITED}),
    Operation("POST", "/api/v1/connector/snapshots", "Portfolio snapshot", tag="connector",
              security="connector_key", request_model=SnapshotRequest,
              description="Idempotent by snapshot_id; late and out-of-order snapshots are "
                          "accepted, the newest taken_at is the current state.",
              responses={201: Response("Stored", SnapshotAnswer),
                         200: Response("Already stored (duplicate: true)", SnapshotAnswer),
                         400: error_response("Malformed body"), 401: INVALID_KEY,
                         413: error_response("Body too large, or more positions or stop orders "
                                             "than the limits allow",
                                             {LIMIT_HEADER: "The limit's name"}),
                         429: error_response("Too many snapshots a minute, or the user's "
                                             "storage is full",
                                             {"Retry-After": "Seconds to wait",
                                              LIMIT_HEADER: "The limit's name"})}),
])
