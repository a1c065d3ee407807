"""The page's data: exactly what the profile JSON API answers, built by the same functions."""

from __future__ import annotations

from typing import Any

from server.columns import utc_now
from server.db import get_session
from server.pairing.service import list_connectors
from server.profile.portfolio import build_portfolio
from server.settings import current_settings


def connectors_for(user_id: int) -> list[dict[str, Any]]:
    """The user's connectors, as `GET /api/v1/profile/ibkr/connectors` lists them."""
    return list_connectors(get_session(), user_id, current_settings().heartbeat_interval_s)


def portfolio_for(user_id: int) -> dict[str, Any]:
    """The user's portfolio, as `GET /api/v1/profile/ibkr/portfolio` answers it."""
    return build_portfolio(get_session(), user_id, current_settings().history_days, utc_now())
