"""The page's data: exactly what the profile JSON API answers, built by the same functions."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sqlalchemy import func, select

from veracity_server.columns import utc_now
from veracity_server.db import get_session
from veracity_server.models import (
    Connector,
    DailyHistoryPoint,
    ReconciliationDifference,
    SnapshotDocument,
)
from veracity_server.pairing.service import list_connectors
from veracity_server.profile.portfolio import ChartRange, build_portfolio, chart_range
from veracity_server.settings import current_settings


def connectors_for(user_id: int) -> list[dict[str, Any]]:
    """The user's connectors, as `GET /api/v1/profile/ibkr/connectors` lists them."""
    return list_connectors(get_session(), user_id, current_settings().heartbeat_interval_s)


# The page lists this many positions of an account (the biggest book stays a page, not 100 MB);
# the API pages further with positions_limit.
PAGE_POSITIONS_LIMIT = 500


def portfolio_for(user_id: int, chart: ChartRange | None = None) -> dict[str, Any]:
    """The user's portfolio, as `GET /api/v1/profile/ibkr/portfolio` answers it."""
    return build_portfolio(get_session(), user_id, chart or chart_range(None), utc_now(),
                           PAGE_POSITIONS_LIMIT)


def portfolio_version(user_id: int, chart_range_name: str = "") -> str:
    """A fingerprint that changes whenever the portfolio region would: with each accepted snapshot
    (the newest document id), each revoke or delete (the connectors' count and newest revoke),
    each minute (the region says "synced 3 min ago", and the history window slides) and the
    chart's range, and with new daily history or reconciliation differences. Costs
    four indexed queries, so a page polling an unchanged portfolio gets its 304 without the
    portfolio being built."""
    session = get_session()
    newest = session.scalar(select(func.max(SnapshotDocument.id))
                            .where(SnapshotDocument.user_id == user_id))
    connectors = session.execute(select(func.count(Connector.id), func.max(Connector.revoked_at))
                                 .where(Connector.user_id == user_id)).one()
    # Daily history and its reconciliation change the chart and the differences table too.
    history = session.scalar(select(func.max(DailyHistoryPoint.id))
                             .where(DailyHistoryPoint.user_id == user_id))
    differences = session.execute(select(func.count(ReconciliationDifference.id),
                                         func.max(ReconciliationDifference.id))
                                  .where(ReconciliationDifference.user_id == user_id)).one()
    parts = (f"{user_id}:{newest}:{tuple(connectors)}:{int(time.time() // 60)}:"
             f"{chart_range_name}:{history}:{tuple(differences)}")
    return "p" + hashlib.sha256(parts.encode()).hexdigest()[:31]
