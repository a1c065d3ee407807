"""The profile JSON API: `GET /api/v1/profile/ibkr/portfolio`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from veracity_server.auth.guards import require_user
from veracity_server.columns import utc_now
from veracity_server.db import get_session
from veracity_server.errors import InvalidRequest
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.profile.portfolio import (
    CHART_RANGES,
    DEFAULT_RANGE,
    ChartRange,
    build_portfolio,
    chart_range,
)
from veracity_server.profile.schemas import PortfolioAnswer

blueprint = Blueprint("profile", __name__)
MAX_POSITIONS_LIMIT = 1_000_000


def requested_range() -> ChartRange:
    """The `range` query parameter's chart range; 400 naming the choices when unknown."""
    name = request.args.get("range")
    try:
        return chart_range(name)
    except KeyError:
        raise InvalidRequest(f"range: must be one of {', '.join(CHART_RANGES)}") from None


def requested_positions_limit() -> int | None:
    """The `positions_limit` query parameter (None: every position)."""
    text = request.args.get("positions_limit")
    if text is None:
        return None
    if not text.isdigit() or not 0 <= int(text) <= MAX_POSITIONS_LIMIT:
        raise InvalidRequest(f"positions_limit: must be a whole number from 0 to "
                             f"{MAX_POSITIONS_LIMIT}")
    return int(text)


@blueprint.get("/api/v1/profile/ibkr/portfolio")
def portfolio() -> ResponseReturnValue:
    """The user's current portfolio and its value history."""
    user_id = require_user()
    return jsonify(build_portfolio(get_session(), user_id, requested_range(), utc_now(),
                                   requested_positions_limit()))


declare_operations(blueprint, [
    Operation("GET", "/api/v1/profile/ibkr/portfolio", "The current portfolio", tag="profile",
              security="session",
              query={"range": {"type": "string", "enum": list(CHART_RANGES),
                               "description": f"the value history's range (default "
                                              f"{DEFAULT_RANGE})"},
                     "positions_limit": {"type": "integer", "minimum": 0,
                                         "maximum": MAX_POSITIONS_LIMIT,
                                         "description": "at most this many positions per "
                                                        "account (position_count says how "
                                                        "many there are)"}},
              responses={200: Response("Accounts, positions, stop orders, value history",
                                       PortfolioAnswer),
                         400: error_response("Unknown range or bad positions_limit"),
                         401: error_response("Not logged in")}),
])
