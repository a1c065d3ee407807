"""The portfolio the profile API returns: current accounts with positions and stop orders, and
the portfolio-value history for a chart range.

The current state is each connector's newest snapshot (`connectors.current_document_id`, moved
only forward by ingest), so reading it costs the same after a day or a year: one row per
connector, its document validated again by the contract's model. An account reported by
several connectors comes from the newest report. A revoked connector's accounts are still
answered, kept for history, but marked `current: false` (and left out of the totals) unless a
live connector reports the same account.

The value history comes from `value_points` at the resolution retention keeps for the range
(every point for a day, the last of each hour for a week, of each four-hour block for a month,
of each day beyond),
with the points that retention has not looked at yet, so a range costs the same however long
the history is; days without live points show the daily history the connector sent (gateway
or Flex, veracity_server/daily_history/series.py), each point marked with its `source`.
Numbers leave as exact decimal strings. Per-position risk (protective stop) is added by
`veracity_server.profile.risk.annotate_account`.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from veracity_contract.connector import SnapshotRequest
from veracity_server.columns import iso_utc
from veracity_server.daily_history.reconcile import differences_for
from veracity_server.daily_history.series import add_history
from veracity_server.models import Connector, SnapshotDocument, ValuePoint
from veracity_server.profile.risk import annotate_account

# A chart needs a shape, not every point: at most this many per account (the page's chart is
# about 700 pixels wide).
MAX_HISTORY_POINTS_PER_ACCOUNT = 250
MAX_RECONCILIATION_ROWS = 200
LEVELS = (0, 1, 2, 3)  # retention's: any snapshot, the last of its hour, 4-hour block, day


def _minute(moment: str) -> str:
    return moment[:16]


def _hour(moment: str) -> str:
    return moment[:13]


def _block(moment: str) -> str:
    return moment[:11] + str(int(moment[11:13]) // 4)


def _day(moment: str) -> str:
    return moment[:10]


@dataclass(frozen=True)
class ChartRange:
    """A chart range: how far back, and the coarsest points retention keeps that serve it."""

    name: str
    span: timedelta | None  # None: all of it
    # 0 every snapshot, 1 the last of each hour, 2 of each four-hour block, 3 of each day
    level: int
    bucket: Callable[[str], str]  # the bucket of an ISO time at that level


CHART_RANGES = {
    "1D": ChartRange("1D", timedelta(days=1), 0, _minute),
    "1W": ChartRange("1W", timedelta(days=7), 1, _hour),
    "1M": ChartRange("1M", timedelta(days=31), 2, _block),
    "1Y": ChartRange("1Y", timedelta(days=366), 3, _day),
    "All": ChartRange("All", None, 3, _day),
}
DEFAULT_RANGE = "1M"


def _plain(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value


def _plain_dict(item: Any) -> dict[str, Any]:
    return {name: _plain(value) for name, value in item.__dict__.items()}


@dataclass
class _Current:
    connector_id: str
    revoked: bool
    taken_at: datetime
    document_id: int
    snapshot_id: str
    account: Any


def current_accounts(session: Session, user_id: int) -> list[_Current]:
    """Each account of the connectors' newest snapshots: from a live connector when one reports
    it, else from a revoked one; the newest report wins (on a tie, the one stored last).

    A connector sends every account it can see in each snapshot (a failed read sends nothing),
    so an account missing from its newest snapshot is closed or no longer visible: it is not
    current any more, and must not keep showing old positions as if they were live.
    """
    rows = session.execute(
        select(Connector.id, Connector.revoked_at, SnapshotDocument.id,
               SnapshotDocument.snapshot_id, SnapshotDocument.taken_at, SnapshotDocument.body)
        .join(SnapshotDocument, SnapshotDocument.id == Connector.current_document_id)
        .where(Connector.user_id == user_id)).all()
    chosen: dict[str, _Current] = {}
    for connector_id, revoked_at, document_id, snapshot_id, taken_at, body in rows:
        snapshot = SnapshotRequest.model_validate_json(zlib.decompress(body))
        for account in snapshot.accounts:
            candidate = _Current(connector_id, revoked_at is not None, taken_at, document_id,
                                 snapshot_id, account)
            held = chosen.get(account.account_id)
            if held is None or _rank(candidate) > _rank(held):
                chosen[account.account_id] = candidate
    return sorted(chosen.values(), key=lambda item: (item.revoked, item.account.account_id))


def _rank(item: _Current) -> tuple[bool, datetime, int]:
    return (not item.revoked, item.taken_at, item.document_id)


def value_history(session: Session, user_id: int, chart: ChartRange,
                  now: datetime) -> list[dict[str, Any]]:
    """Net liquidation over the range, one series per account, oldest first.

    The points retention keeps for the range, and those it has not looked at yet (level -1:
    the last hour's, and late ones from an outbox), thinned in SQL to at most
    MAX_HISTORY_POINTS_PER_ACCOUNT evenly spread per account (always keeping the newest), so
    Python only sees what the chart draws. A count per account comes first: when every account
    is within the limit (1W and 1M nearly always), the points are read as they are, which costs
    SQLite a quarter of the thinning query's window functions and their sorts (a year's month,
    measured with benchmarks/history.py). Columns are read without the ORM's type conversions
    (thousands of rows): times as SQLite's text or PostgreSQL's datetime, values as exact text
    or Decimal.
    """
    # IN, not >=: each level is then one seek of (user_id, level, taken_at) from `since`, and
    # a year of daily points older than the range is never read.
    levels = [-1, *(level for level in LEVELS if level >= chart.level)]
    conditions = [ValuePoint.user_id == user_id, ValuePoint.level.in_(levels)]
    if chart.span is not None:
        conditions.append(ValuePoint.taken_at >= now - chart.span)
    columns = (ValuePoint.account_id, ValuePoint.currency,
               type_coerce(ValuePoint.taken_at, String).label("moment"),
               type_coerce(ValuePoint.net_liquidation, String).label("value"))
    limit = MAX_HISTORY_POINTS_PER_ACCOUNT
    # Core, on the session's connection: plain rows, without the ORM's per-row work (a year's
    # month is hundreds of points per account).
    connection = session.connection()
    per_account = select(func.count().label("points")).where(*conditions).group_by(
        ValuePoint.account_id).subquery()
    most = connection.execute(select(func.max(per_account.c.points))).scalar_one() or 0
    if most <= limit:
        statement = select(*columns).where(*conditions).order_by(
            ValuePoint.account_id, ValuePoint.taken_at, ValuePoint.id)
    else:
        newest_first = func.row_number().over(
            partition_by=ValuePoint.account_id,
            order_by=(ValuePoint.taken_at.desc(), ValuePoint.id.desc()))
        ranked = select(
            *columns, ValuePoint.id, newest_first.label("rank"),
            func.count().over(partition_by=ValuePoint.account_id).label("total"),
        ).where(*conditions).subquery()
        step = (ranked.c.total + (limit - 1)) // limit
        statement = (select(ranked.c.account_id, ranked.c.currency, ranked.c.moment,
                            ranked.c.value)
                     .where((ranked.c.rank - 1) % step == 0)
                     .order_by(ranked.c.account_id, ranked.c.moment, ranked.c.id))
    rows = connection.execute(statement).all()
    series: dict[str, dict[str, Any]] = {}
    last_buckets: dict[str, str] = {}
    for account_id, currency, stored_moment, value in rows:
        entry = series.get(account_id)
        if entry is None:
            entry = series[account_id] = {"account_id": account_id, "currency": currency,
                                          "points": []}
        elif currency:
            entry["currency"] = currency
        moment = _iso_moment(stored_moment)
        bucket = chart.bucket(moment)
        points = entry["points"]
        # One point per bucket (the last): marked and not-yet-marked points, and two
        # snapshots of one moment, say the same thing.
        if points and last_buckets[account_id] == bucket:
            points.pop()
        last_buckets[account_id] = bucket
        points.append({"taken_at": moment, "net_liquidation": _plain(value), "source": "live"})
    # Daily history (issue 19) fills the days without live points, marked with its source.
    return add_history(list(series.values()), session, user_id,
                       None if chart.span is None else now - chart.span, now, limit)


def _iso_moment(stored: Any) -> str:
    """ISO 8601 UTC with Z, as columns.iso_utc writes it, from SQLite's text or a datetime."""
    if isinstance(stored, datetime):
        return str(iso_utc(stored))
    text = str(stored).replace(" ", "T", 1)
    return (text[:-7] if text.endswith(".000000") else text) + "Z"


def chart_range(name: str | None) -> ChartRange:
    """The chart range called `name` (the default when None); KeyError for an unknown one."""
    return CHART_RANGES[name or DEFAULT_RANGE]


def build_portfolio(session: Session, user_id: int, chart: ChartRange, now: datetime,
                    positions_limit: int | None = None) -> dict[str, Any]:
    """The whole portfolio answer for `user_id`; `positions_limit` pages long books (the first
    that many positions of each account; `position_count` says how many there are)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    answer_accounts = []
    for item in current_accounts(session, user_id):
        account = item.account
        current = not item.revoked
        if current and account.net_liquidation is not None:
            totals[account.base_currency or ""] += account.net_liquidation
        positions = account.positions or []
        annotated = annotate_account({
            "account_id": account.account_id,
            "base_currency": account.base_currency,
            "net_liquidation": _plain(account.net_liquidation),
            "cash": _plain(account.cash),
            "taken_at": iso_utc(item.taken_at),
            "snapshot_id": item.snapshot_id,
            "connector_id": item.connector_id,
            "current": current,
            "position_count": len(positions),
            "positions": [_plain_dict(position) for position in positions],
            "stop_orders": [_plain_dict(order) for order in account.stop_orders or []],
        })
        if positions_limit is not None:
            annotated["positions"] = annotated["positions"][:positions_limit]
        answer_accounts.append(annotated)
    return {
        "as_of": max((account["taken_at"] for account in answer_accounts if account["current"]),
                     default=None),
        "accounts": answer_accounts,
        # Summed per currency only: adding USD to EUR without a rate would be a made-up number.
        "net_liquidation_by_currency": {currency: _plain(total)
                                        for currency, total in sorted(totals.items())},
        "range": chart.name,
        "value_history": value_history(session, user_id, chart, now),
        "reconciliation": reconciliation(session, user_id),
    }


def reconciliation(session: Session, user_id: int) -> dict[str, Any]:
    """Where daily history and live end-of-day snapshots disagree, newest day first
    (veracity_server/daily_history/reconcile.py; at most MAX_RECONCILIATION_ROWS)."""
    rows, total = differences_for(session, user_id, MAX_RECONCILIATION_ROWS)
    return {"total": total, "differences": [{
        "report_date": row.report_date.isoformat(), "account_id": row.account_id,
        "source": row.source, "kind": row.kind, "conid": row.conid, "symbol": row.symbol,
        "currency": row.currency, "live_value": row.live_value,
        "history_value": row.history_value, "live_taken_at": iso_utc(row.live_taken_at)}
        for row in rows]}
