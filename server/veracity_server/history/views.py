"""`DELETE /api/v1/profile/ibkr/connectors/<id>`: remove a connector and all it sent.

Revoking keeps a connector's snapshots for history (marked not current); deleting is the
explicit, confirmed way to remove them. The documents and value points go with the connector
row (ON DELETE CASCADE), in one transaction.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, func, select

from veracity_contract.history import DeleteConnectorAnswer, DeleteConnectorRequest
from veracity_server.auth.guards import require_user
from veracity_server.db import get_session
from veracity_server.errors import NotFound
from veracity_server.models import Connector, SnapshotDocument
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.requests_json import parse_body

blueprint = Blueprint("history", __name__)


def delete_connector(user_id: int, connector_id: str) -> int:
    """Delete the user's connector with its snapshots; returns how many snapshots went."""
    session = get_session()
    owned = session.scalar(select(Connector.id).where(Connector.id == connector_id,
                                                      Connector.user_id == user_id))
    if owned is None:
        raise NotFound("No such connector.")
    snapshots = session.scalar(select(func.count()).select_from(SnapshotDocument)
                               .where(SnapshotDocument.connector_id == connector_id)) or 0
    session.execute(delete(Connector).where(Connector.id == connector_id,
                                            Connector.user_id == user_id))
    session.commit()
    return int(snapshots)


@blueprint.delete("/api/v1/profile/ibkr/connectors/<connector_id>")
def delete_connector_view(connector_id: str) -> ResponseReturnValue:
    """Delete a connector and its data; the body must confirm it."""
    user_id = require_user()
    parse_body(DeleteConnectorRequest)
    deleted = delete_connector(user_id, connector_id)
    return jsonify(connector_id=connector_id, deleted_snapshots=deleted)


declare_operations(blueprint, [
    Operation("DELETE", "/api/v1/profile/ibkr/connectors/{connector_id}",
              "Delete a connector and its snapshots", tag="pairing", security="session",
              csrf=True, request_model=DeleteConnectorRequest,
              description='Needs {"confirm": true}. Its key stops working; its snapshots and '
                          'value history are removed (revoking keeps them).',
              responses={200: Response("Deleted", DeleteConnectorAnswer),
                         400: error_response("Not confirmed"),
                         401: error_response("Not logged in"),
                         403: error_response("Missing or wrong X-CSRF-Token"),
                         404: error_response("No such connector")}),
])
