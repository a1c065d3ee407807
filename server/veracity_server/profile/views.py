"""The profile JSON API: `GET /api/v1/profile/ibkr/portfolio`."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from veracity_server.auth.guards import require_user
from veracity_server.columns import utc_now
from veracity_server.db import get_session
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.profile.portfolio import build_portfolio
from veracity_server.profile.schemas import PortfolioAnswer
from veracity_server.settings import current_settings

blueprint = Blueprint("profile", __name__)


@blueprint.get("/api/v1/profile/ibkr/portfolio")
def portfolio() -> ResponseReturnValue:
    """The user's current portfolio and its value history."""
    user_id = require_user()
    return jsonify(build_portfolio(get_session(), user_id, current_settings().history_days,
                                   utc_now()))


declare_operations(blueprint, [
    Operation("GET", "/api/v1/profile/ibkr/portfolio", "The current portfolio", tag="profile",
              security="session",
              responses={200: Response("Accounts, positions, stop orders, value history",
                                       PortfolioAnswer),
                         401: error_response("Not logged in")}),
])
