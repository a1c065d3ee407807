"""The audit-log API: a page of one connector's events (newest first) and its health summary.

The Profile page renders the first page itself and fetches the next ones from here with the
`next_cursor` of the previous answer ("More").
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from veracity_server.audit.events import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, EventPage, list_events
from veracity_server.audit.schemas import ConnectorEventsAnswer
from veracity_server.auth.guards import require_user
from veracity_server.columns import iso_utc
from veracity_server.db import get_session
from veracity_server.errors import InvalidRequest, NotFound
from veracity_server.models import Connector
from veracity_server.openapi import Operation, Response, declare_operations, error_response

blueprint = Blueprint("audit", __name__)
CURSOR_MAX_LENGTH = 64


def users_connector(session: Session, user_id: int, connector_id: str) -> Connector:
    """The user's connector with this id; 404 for anything else (another user's too)."""
    try:
        uuid.UUID(connector_id)
    except ValueError:
        raise NotFound("No such connector.") from None
    connector = session.scalars(select(Connector).where(
        Connector.id == connector_id, Connector.user_id == user_id)).first()
    if connector is None:
        raise NotFound("No such connector.")
    return connector


def stored_health(text: str | None) -> dict[str, Any] | None:
    """The health summary as the heartbeat stored it (validated JSON), or None."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def events_json(page: EventPage) -> list[dict[str, Any]]:
    """The events of a page as the API answers them."""
    return [{"id": event.id, "kind": event.kind, "at": iso_utc(event.at),
             "detail": event.detail} for event in page.events]


def requested_limit() -> int:
    """The `limit` query parameter (default PAGE_SIZE_DEFAULT)."""
    text = request.args.get("limit")
    if text is None:
        return PAGE_SIZE_DEFAULT
    if not text.isdigit() or not 1 <= int(text) <= PAGE_SIZE_MAX:
        raise InvalidRequest(f"limit: must be a whole number from 1 to {PAGE_SIZE_MAX}")
    return int(text)


@blueprint.get("/api/v1/profile/ibkr/connectors/<connector_id>/events")
def connector_events(connector_id: str) -> ResponseReturnValue:
    """One page of the connector's audit log and its latest health summary."""
    user_id = require_user()
    session = get_session()
    connector = users_connector(session, user_id, connector_id)
    cursor = request.args.get("cursor")
    if cursor is not None and len(cursor) > CURSOR_MAX_LENGTH:
        raise InvalidRequest(f"cursor: at most {CURSOR_MAX_LENGTH} characters")
    page = list_events(session, connector.id, cursor, requested_limit())
    return jsonify(health=stored_health(connector.health), events=events_json(page),
                   next_cursor=page.next_cursor)


declare_operations(blueprint, [
    Operation("GET", "/api/v1/profile/ibkr/connectors/{connector_id}/events",
              "A connector's audit log and health", tag="pairing", security="session",
              description="Newest first: paired, new_ip, revoked, session_state, alert_sent, "
                          "refusal (and other kinds later). Pass the answer's next_cursor as "
                          "`cursor` for the next, older page.",
              query={"cursor": {"type": "string", "maxLength": CURSOR_MAX_LENGTH,
                                "description": "next_cursor of the previous page"},
                     "limit": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX,
                               "description": f"events per page (default "
                                              f"{PAGE_SIZE_DEFAULT})"}},
              responses={200: Response("A page of events", ConnectorEventsAnswer),
                         400: error_response("A bad limit or cursor"),
                         401: error_response("Not logged in"),
                         404: error_response("No such connector of this user")}),
])
