"""Pairing endpoints: issue a token (user), exchange it (connector), list and revoke (user)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import update

from veracity_contract.fields import EmptyBody
from veracity_contract.pairing import (
    ConnectorList,
    ExchangeAnswer,
    ExchangeRequest,
    PairingTokenAnswer,
    RevokeAnswer,
)
from veracity_server import audit
from veracity_server.auth.guards import require_user
from veracity_server.columns import iso_utc, utc_now
from veracity_server.db import get_session
from veracity_server.ingest.service import client_ip
from veracity_server.limits import enforce_rate_limit
from veracity_server.models import Connector
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.pairing import service
from veracity_server.requests_json import parse_body
from veracity_server.settings import current_settings

blueprint = Blueprint("pairing", __name__)


@blueprint.post("/api/v1/profile/ibkr/tokens")
def issue_token() -> ResponseReturnValue:
    """A one-time pairing token for the logged-in user."""
    user_id = require_user()
    parse_body(EmptyBody, allow_empty=True)
    settings = current_settings()
    token, expires_at = service.issue_pairing_token(
        get_session(), user_id, settings.pairing_token_ttl_s,
        max_valid=settings.pairing_tokens_per_user)
    return jsonify(token=token, expires_at=iso_utc(expires_at)), 201


@blueprint.post("/api/v1/connector/exchange")
def exchange_token() -> ResponseReturnValue:
    """Redeem a one-time token for a connector key."""
    settings = current_settings()
    enforce_rate_limit("exchange", settings.exchange_rate_limit)
    body = parse_body(ExchangeRequest)
    started = utc_now()
    exchanged = service.consume_pairing_token(
        get_session(), body.token, body.device.hostname, body.device.platform,
        body.device.connector_version, body.idempotency_key)
    if exchanged.connector.created_at >= started:  # not a repeat of an earlier exchange
        _log_paired(exchanged.connector.id, body.device.hostname, body.device.platform,
                    request.remote_addr)
    return jsonify(connector_id=exchanged.connector.id, connector_key=exchanged.key,
                   heartbeat_interval_s=settings.heartbeat_interval_s,
                   snapshot_interval_s=settings.snapshot_interval_s,
                   account_id=exchanged.account_id), 201


@blueprint.get("/api/v1/profile/ibkr/connectors")
def list_connectors() -> ResponseReturnValue:
    """The user's connectors with their status."""
    user_id = require_user()
    return jsonify(connectors=service.list_connectors(
        get_session(), user_id, current_settings().heartbeat_interval_s))


@blueprint.post("/api/v1/profile/ibkr/connectors/<connector_id>/revoke")
def revoke_connector(connector_id: str) -> ResponseReturnValue:
    """Revoke a connector; its key fails from its next request on."""
    user_id = require_user()
    parse_body(EmptyBody, allow_empty=True)
    started = utc_now()
    connector = service.revoke_connector(get_session(), user_id, connector_id)
    if connector.revoked_at is not None and connector.revoked_at >= started:  # not a repeat
        session = get_session()
        audit.record_event(session, connector.id, audit.REVOKED, {}, at=connector.revoked_at)
        session.commit()
    return jsonify(connector=service.describe_connector(
        connector, utc_now(), current_settings().heartbeat_interval_s))


def _log_paired(connector_id: str, hostname: str, platform: str, remote_addr: str | None) -> None:
    """The audit log's first entry, and the IP later requests are compared with."""
    ip = client_ip(remote_addr)
    session = get_session()
    session.execute(update(Connector).where(Connector.id == connector_id).values(last_ip=ip))
    audit.record_event(session, connector_id, audit.PAIRED,
                       {"hostname": hostname, "platform": platform, "ip": ip})
    session.commit()


NOT_LOGGED_IN = error_response("Not logged in")
CSRF_FAILED = error_response("Missing or wrong X-CSRF-Token")

declare_operations(blueprint, [
    Operation("POST", "/api/v1/profile/ibkr/tokens", "Issue a one-time pairing token",
              tag="pairing", security="session", csrf=True, request_model=EmptyBody,
              request_required=False,
              responses={201: Response("The token (shown once)", PairingTokenAnswer),
                         400: error_response("Malformed body"), 401: NOT_LOGGED_IN,
                         403: CSRF_FAILED}),
    Operation("POST", "/api/v1/connector/exchange", "Exchange a pairing token for a key",
              tag="connector", request_model=ExchangeRequest,
              description="Idempotent by idempotency_key while the token is valid: a repeat "
                          "answers the same connector with another key. Every key answered "
                          "works until the connector first authenticates with one of them; "
                          "then only that one does, and a repeat gets token_used.",
              responses={201: Response("Paired", ExchangeAnswer),
                         400: error_response("Malformed body"),
                         401: error_response("token_invalid, token_expired or token_used"),
                         413: error_response("Body too large"),
                         429: error_response("Too many attempts",
                                             {"Retry-After": "Seconds to wait"})}),
    Operation("GET", "/api/v1/profile/ibkr/connectors", "The user's connectors", tag="pairing",
              security="session",
              responses={200: Response("Connectors, newest first", ConnectorList),
                         401: NOT_LOGGED_IN}),
    Operation("POST", "/api/v1/profile/ibkr/connectors/{connector_id}/revoke",
              "Revoke a connector (idempotent)", tag="pairing", security="session", csrf=True,
              request_model=EmptyBody, request_required=False,
              responses={200: Response("Revoked", RevokeAnswer),
                         400: error_response("Malformed body"), 401: NOT_LOGGED_IN,
                         403: CSRF_FAILED, 404: error_response("No such connector")}),
])
