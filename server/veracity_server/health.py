"""Operations endpoints: `/healthz` (the process answers) and `/readyz` (the database answers).

`/healthz` never touches the database, so an orchestrator does not restart healthy processes
while the database is away; `/readyz` answers 503 `database_unavailable` until it is back.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from veracity_server.db import database
from veracity_server.errors import DatabaseUnavailable
from veracity_server.openapi import Operation, Response, declare_operations, error_response

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


class HealthStatus(BaseModel):
    """{"status": "ok"}."""

    status: str


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The database answers a query."""
    try:
        database().ping()
    except SQLAlchemyError as error:
        log.warning("readiness check failed: %s", type(error).__name__)
        raise DatabaseUnavailable("The database is not reachable.") from None
    return jsonify(status="ok")


declare_operations(blueprint, [
    Operation("GET", "/healthz", "Liveness: the process answers", tag="operations",
              responses={200: Response("Up", HealthStatus)}),
    Operation("GET", "/readyz", "Readiness: the database answers", tag="operations",
              responses={200: Response("Ready", HealthStatus),
                         503: error_response("The database is not reachable")}),
])
