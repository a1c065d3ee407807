"""The page's data: exactly what the profile JSON API answers, built by the same functions."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sqlalchemy import func, select

from veracity_server.columns import utc_now
from veracity_server.db import get_session
from veracity_server.models import Snapshot
from veracity_server.pairing.service import list_connectors
from veracity_server.profile.portfolio import build_portfolio
from veracity_server.settings import current_settings


def connectors_for(user_id: int) -> list[dict[str, Any]]:
    """The user's connectors, as `GET /api/v1/profile/ibkr/connectors` lists them."""
    return list_connectors(get_session(), user_id, current_settings().heartbeat_interval_s)


def portfolio_for(user_id: int) -> dict[str, Any]:
    """The user's portfolio, as `GET /api/v1/profile/ibkr/portfolio` answers it."""
    return build_portfolio(get_session(), user_id, current_settings().history_days, utc_now())


def portfolio_version(user_id: int) -> str:
    """A fingerprint that changes whenever the portfolio region would: with each accepted snapshot
    (snapshots are only ever added, so the newest row id says it) and each minute (the region
    says "synced 3 min ago", and the history window slides). Costs one indexed query, so a page
    polling an unchanged portfolio gets its 304 without the portfolio being built."""
    newest = get_session().scalar(select(func.max(Snapshot.id)).where(Snapshot.user_id == user_id))
    settings = current_settings()
    parts = f"{user_id}:{newest}:{int(time.time() // 60)}:{settings.history_days}"
    return "p" + hashlib.sha256(parts.encode()).hexdigest()[:31]
