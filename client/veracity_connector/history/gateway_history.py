"""A year of daily NAV through the gateway: Portfolio Analyst's `POST /pa/performance`.

One request for every account (`{"acctIds": [...], "period": "1Y"}`): IBKR paces `/pa/*` at one
request per 15 minutes, so the caller asks once and never retries in a loop (`backfill`). The
answer (ibkr-gateway.md "Portfolio Analyst") is `{"nav": {"dates": [...], "data": [{"id",
"baseCurrency", "navs": [...]}]}}` with `dates` and each account's `navs` of the same length.
The series is read whole or refused whole: one unreadable value or date, or lengths that do not
agree, and nothing of it is kept (`GatewayHistoryUnreadable`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from veracity_connector.gateway.errors import GatewayProtocolError
from veracity_connector.gateway.transport import GatewayTransport
from veracity_connector.history.points import DailyPoint, DailySeries
from veracity_connector.numbers import CURRENCY_MAX, NumberFormatError, bounded_text, parse_decimal

logger = logging.getLogger(__name__)

PERFORMANCE_PATH = "/pa/performance"
PERFORMANCE_PERIOD = "1Y"
# IBKR's pacing table: /pa/performance, /pa/summary, /pa/transactions 1 request per 15 minutes.
PA_PACING_WINDOW_S = 15 * 60.0
DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d")


class GatewayHistoryUnreadable(GatewayProtocolError):
    """The /pa/performance answer is not a series we can take whole."""


def fetch_nav_history(transport: GatewayTransport, account_ids: list[str],
                      period: str = PERFORMANCE_PERIOD) -> DailySeries:
    """Ask /pa/performance once for all `account_ids`; the daily NAVs, whole or an error."""
    body = transport.request("POST", PERFORMANCE_PATH,
                             json_body={"acctIds": account_ids, "period": period})
    return parse_performance(body, account_ids)


def parse_performance(body: Any, account_ids: list[str]) -> DailySeries:
    """The daily NAV points of a /pa/performance answer (raises if any part is unreadable)."""
    if not isinstance(body, dict):
        raise GatewayHistoryUnreadable("/pa/performance did not answer an object")
    nav = body.get("nav")
    if not isinstance(nav, dict):
        raise GatewayHistoryUnreadable("/pa/performance answered no 'nav' series")
    dates = nav.get("dates")
    rows = nav.get("data")
    if not isinstance(dates, list) or not isinstance(rows, list):
        raise GatewayHistoryUnreadable("/pa/performance's 'nav' lacks 'dates' or 'data'")
    days = [_report_date(value) for value in dates]
    wanted = set(account_ids)
    points: list[DailyPoint] = []
    for row in rows:
        if not isinstance(row, dict):
            raise GatewayHistoryUnreadable("/pa/performance's 'nav.data' holds a non-object")
        account_id = bounded_text(row.get("id"), 64)
        if not account_id or (wanted and account_id not in wanted):
            continue  # another id type (a model, a consolidated group): not an account we sync
        navs = row.get("navs")
        if not isinstance(navs, list) or len(navs) != len(days):
            raise GatewayHistoryUnreadable(
                f"/pa/performance: account {account_id}'s navs do not match its dates")
        currency = bounded_text(row.get("baseCurrency"), CURRENCY_MAX)
        for day, value in zip(days, navs, strict=True):
            amount = _nav(value, account_id)
            if amount is None:
                continue  # a day before the account existed, or a holiday IBKR left blank
            points.append(DailyPoint(account_id, day, amount, currency))
    return DailySeries("gateway", tuple(points))


def _report_date(value: Any) -> date:
    text = str(value).strip()
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise GatewayHistoryUnreadable(f"/pa/performance sent a date it does not document: {text!r}")


def _nav(value: Any, account_id: str) -> Decimal | None:
    try:
        return parse_decimal(value)
    except NumberFormatError:
        raise GatewayHistoryUnreadable(
            f"/pa/performance sent an unreadable NAV for account {account_id}") from None
