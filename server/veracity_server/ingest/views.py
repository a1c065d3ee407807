"""Connector endpoints: heartbeat and snapshots. Parse, validate, one call, a short answer.

`latest_version` in the heartbeat answer is `VERACITY_LATEST_CONNECTOR_VERSION` (or null): part
of contract v1 for other clients; the connector itself learns of updates from the download
endpoints (Velopack feed or metadata), not from the heartbeat.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from veracity_contract.connector import (
    HeartbeatAnswer,
    HeartbeatRequest,
    SnapshotAnswer,
    SnapshotRequest,
)
from veracity_server.columns import iso_utc, utc_now
from veracity_server.db import database
from veracity_server.errors import ApiError
from veracity_server.ingest import service
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.requests_json import parse_body
from veracity_server.settings import current_settings

blueprint = Blueprint("ingest", __name__)


@blueprint.post("/api/v1/connector/heartbeat")
def heartbeat() -> ResponseReturnValue:
    """Record that the connector is alive and how its gateway is."""
    key_hash = service.connector_key_hash(request.headers.get("Authorization"))
    db = database()
    with db.raw_connection() as connection:
        try:
            body = parse_body(HeartbeatRequest)
        except ApiError:
            # The happy path checks the key inside its one UPDATE; a bad body from a bad key
            # must still say invalid_key, so the key is looked up here, on the error path only.
            service.active_connector(db, connection, key_hash)
            raise
        now = utc_now()
        service.record_heartbeat(db, connection, key_hash, body, now)
    settings = current_settings()
    return jsonify(
        server_time=iso_utc(now),
        heartbeat_interval_s=settings.heartbeat_interval_s,
        snapshot_interval_s=settings.snapshot_interval_s,
        latest_version=settings.latest_connector_version,
    )


@blueprint.post("/api/v1/connector/snapshots")
def snapshots() -> ResponseReturnValue:
    """Store a portfolio snapshot (idempotent by snapshot_id)."""
    key_hash = service.connector_key_hash(request.headers.get("Authorization"))
    db = database()
    with db.raw_connection() as connection:
        connector_id, user_id = service.active_connector(db, connection, key_hash)
        body = parse_body(SnapshotRequest)
        duplicate = service.store_snapshot(db, connection, connector_id, user_id, body,
                                           utc_now())
    return jsonify(snapshot_id=str(body.snapshot_id), duplicate=duplicate), (
        200 if duplicate else 201)


INVALID_KEY = error_response("invalid_key: unknown, malformed or revoked connector key")

declare_operations(blueprint, [
    Operation("POST", "/api/v1/connector/heartbeat", "Connector heartbeat", tag="connector",
              security="connector_key", request_model=HeartbeatRequest,
              responses={200: Response("Recorded", HeartbeatAnswer),
                         400: error_response("Malformed body"), 401: INVALID_KEY,
                         413: error_response("Body too large")}),
    Operation("POST", "/api/v1/connector/snapshots", "Portfolio snapshot", tag="connector",
              security="connector_key", request_model=SnapshotRequest,
              description="Idempotent by snapshot_id; late and out-of-order snapshots are "
                          "accepted, the newest taken_at is the current state.",
              responses={201: Response("Stored", SnapshotAnswer),
                         200: Response("Already stored (duplicate: true)", SnapshotAnswer),
                         400: error_response("Malformed body"), 401: INVALID_KEY,
                         413: error_response("Body too large")}),
])
