"""Reconciliation: a day's history point against the same day's live end-of-day snapshot.

The live end-of-day value of an account on report date D is its last live snapshot taken on D
(UTC) from VERACITY_RECONCILE_FROM_HOUR_UTC (default 21:00, after the US close) to midnight;
a day without one is not reconciled (the connector was off at the close). Compared:
- the base currency: different currencies are a difference of kind "currency";
- the NAV: a difference of kind "nav" when |live - history| > max(1 unit of the base
  currency, 0.1 % of the live NAV) — IBKR's statement and a snapshot a few minutes after the
  close differ by late prices and accruals, never by more on a real day;
- Flex positions, when the point has them: the quantity per conid (summed over lots; a
  missing position counts as 0), exactly — a share more or less is a difference of kind
  "quantity" (at most MAX_QUANTITY_ROWS per day are kept; the count says how many).

Each batch reconciles its own days and, again, every point of the last RECHECK_DAYS days (so
a live snapshot that arrived after the history is compared too). A day's differences replace
what was stored for it before. A day that newly differs is an
event in the connector's audit log (`reconciliation_difference`); a day found equal again
loses its rows.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from veracity_contract.connector import SnapshotRequest
from veracity_server import audit
from veracity_server.daily_history.store import stored_positions
from veracity_server.models import (
    DailyHistoryPoint,
    ReconciliationDifference,
    SnapshotDocument,
    ValuePoint,
)

log = logging.getLogger(__name__)

NAV_TOLERANCE_UNITS = Decimal(1)
NAV_TOLERANCE_SHARE = Decimal("0.001")
MAX_QUANTITY_ROWS = 50
RECHECK_DAYS = 7


@dataclass(frozen=True)
class LiveClose:
    """An account's last live value point of a day, and the snapshot it came from."""

    document_id: int
    taken_at: datetime
    currency: str | None
    net_liquidation: Decimal


@dataclass
class DayResult:
    """One point's reconciliation: was there live data, and what differs."""

    with_live_data: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)


def nav_tolerance(live: Decimal) -> Decimal:
    """How far a history NAV may be from the live one: max(1 unit, 0.1 % of the live NAV)."""
    return max(NAV_TOLERANCE_UNITS, abs(live) * NAV_TOLERANCE_SHARE)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def live_close(session: Session, user_id: int, account_id: str, day: date,
               from_hour: int) -> LiveClose | None:
    """The account's last live value point on `day` from `from_hour` UTC, if any."""
    start = datetime.combine(day, time(from_hour), UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), UTC)
    row = session.execute(
        select(ValuePoint.document_id, ValuePoint.taken_at, ValuePoint.currency,
               ValuePoint.net_liquidation)
        .where(ValuePoint.user_id == user_id, ValuePoint.level.in_((-1, 0, 1, 2, 3)),
               ValuePoint.taken_at >= start, ValuePoint.taken_at < end,
               ValuePoint.account_id == account_id)
        .order_by(ValuePoint.taken_at.desc(), ValuePoint.id.desc()).limit(1)).first()
    if row is None:
        return None
    return LiveClose(int(row[0]), row[1], row[2], row[3])


def _quantities(positions: Any) -> dict[int, tuple[Decimal, str | None]]:
    totals: dict[int, Decimal] = defaultdict(Decimal)
    symbols: dict[int, str | None] = {}
    for position in positions or ():
        totals[position.conid] += position.quantity
        symbols[position.conid] = symbols.get(position.conid) or position.symbol
    return {conid: (quantity, symbols[conid]) for conid, quantity in totals.items()}


def live_positions(session: Session, document_id: int, account_id: str) -> Any:
    """The account's positions in a stored snapshot document."""
    body = session.scalar(select(SnapshotDocument.body)
                          .where(SnapshotDocument.id == document_id))
    if body is None:
        return []
    snapshot = SnapshotRequest.model_validate_json(zlib.decompress(body))
    for account in snapshot.accounts:
        if account.account_id == account_id:
            return account.positions or []
    return []


def compare(session: Session, point: DailyHistoryPoint, close: LiveClose) -> list[dict[str, Any]]:
    """The differences between a history point and its day's live close (none: [])."""
    base = {"kind": "", "conid": None, "symbol": None, "currency": point.currency,
            "live_taken_at": close.taken_at}
    rows: list[dict[str, Any]] = []
    if close.currency and close.currency != point.currency:
        rows.append({**base, "kind": "currency", "live_value": close.currency,
                     "history_value": point.currency})
    elif abs(close.net_liquidation - point.nav) > nav_tolerance(close.net_liquidation):
        rows.append({**base, "kind": "nav", "live_value": _text(close.net_liquidation),
                     "history_value": _text(point.nav)})
    history = stored_positions(point.positions)
    if history is not None:
        flex = _quantities(history)
        live = _quantities(live_positions(session, close.document_id, point.account_id))
        zero = (Decimal(0), None)
        for conid in sorted(set(flex) | set(live)):
            live_quantity, live_symbol = live.get(conid, zero)
            flex_quantity, flex_symbol = flex.get(conid, zero)
            if live_quantity != flex_quantity:
                rows.append({**base, "kind": "quantity", "conid": conid,
                             "symbol": flex_symbol or live_symbol, "currency": None,
                             "live_value": _text(live_quantity),
                             "history_value": _text(flex_quantity)})
        # NAV and currency rows first, then at most MAX_QUANTITY_ROWS positions.
        rows = rows[:MAX_QUANTITY_ROWS + 1]
    return rows


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["kind"], row["conid"], row["live_value"], row["history_value"])


def reconcile_point(session: Session, point: DailyHistoryPoint, from_hour: int,
                    now: datetime) -> DayResult:
    """Compare one point with its day's live close and store the outcome (not committed)."""
    close = live_close(session, point.user_id, point.account_id, point.report_date, from_hour)
    if close is None:
        return DayResult()
    rows = compare(session, point, close)
    same_day = (ReconciliationDifference.user_id == point.user_id,
                ReconciliationDifference.account_id == point.account_id,
                ReconciliationDifference.report_date == point.report_date,
                ReconciliationDifference.source == point.source)
    before = session.execute(
        select(ReconciliationDifference.kind, ReconciliationDifference.conid,
               ReconciliationDifference.live_value, ReconciliationDifference.history_value)
        .where(*same_day)).all()
    if sorted(map(tuple, before), key=repr) == sorted(map(_row_key, rows), key=repr):
        return DayResult(True, rows)  # unchanged: nothing to write
    session.execute(delete(ReconciliationDifference).where(*same_day))
    for row in rows:
        session.add(ReconciliationDifference(
            user_id=point.user_id, connector_id=point.connector_id,
            account_id=point.account_id, report_date=point.report_date, source=point.source,
            found_at=now, **row))
    if rows and not before:
        nav_row = next((row for row in rows if row["kind"] in ("nav", "currency")), None)
        audit.record_event(session, point.connector_id, audit.RECONCILIATION_DIFFERENCE, {
            "account_id": point.account_id, "report_date": point.report_date.isoformat(),
            "source": point.source, "differences": len(rows),
            "live_nav": _text(close.net_liquidation), "history_nav": _text(point.nav),
            "nav_differs": nav_row is not None,
            "positions_differing": sum(1 for row in rows if row["kind"] == "quantity")},
            at=now)
    return DayResult(True, rows)


@dataclass
class BatchOutcome:
    """Of a batch's points: how many had live data, and how many of those differ."""

    with_live_data: int = 0
    differences: int = 0


def reconcile_days(session: Session, user_id: int, source: str,
                   days: list[tuple[str, date]], from_hour: int,
                   now: datetime) -> BatchOutcome:
    """Reconcile the user's points of `source` for these (account, day) keys; commits."""
    outcome = BatchOutcome()
    if not days:
        return outcome
    wanted = set(days)
    first, last = min(day for _, day in days), max(day for _, day in days)
    points = session.scalars(select(DailyHistoryPoint).where(
        DailyHistoryPoint.user_id == user_id, DailyHistoryPoint.source == source,
        DailyHistoryPoint.report_date >= first, DailyHistoryPoint.report_date <= last)).all()
    try:
        for point in points:
            if (point.account_id, point.report_date) not in wanted:
                continue
            result = reconcile_point(session, point, from_hour, now)
            outcome.with_live_data += result.with_live_data
            outcome.differences += bool(result.rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return outcome


def reconcile_recent(session: Session, user_id: int, since: date,
                     skip: set[tuple[str, date, str]], from_hour: int, now: datetime) -> int:
    """Reconcile the user's points of every source from `since` on, but the (account, day,
    source) keys in `skip` (just done); commits. Returns how many had live data.

    A live snapshot that reached Veracity after the day's history (an outbox delivering late)
    is compared this way at the next batch: the connector sends the days it lacks daily."""
    points = session.scalars(select(DailyHistoryPoint).where(
        DailyHistoryPoint.user_id == user_id, DailyHistoryPoint.report_date >= since)).all()
    checked = 0
    try:
        for point in points:
            if (point.account_id, point.report_date, point.source) in skip:
                continue
            checked += reconcile_point(session, point, from_hour, now).with_live_data
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return checked


def differences_for(session: Session, user_id: int, limit: int) -> tuple[list[Any], int]:
    """The user's differences, newest day first (at most `limit`), and how many there are."""
    query = select(ReconciliationDifference).where(
        ReconciliationDifference.user_id == user_id)
    rows = session.scalars(query.order_by(
        ReconciliationDifference.report_date.desc(), ReconciliationDifference.account_id,
        ReconciliationDifference.source, ReconciliationDifference.kind,
        ReconciliationDifference.conid, ReconciliationDifference.id).limit(limit)).all()
    total = len(rows) if len(rows) < limit else session.scalar(
        select(func.count()).select_from(ReconciliationDifference)
        .where(ReconciliationDifference.user_id == user_id))
    return list(rows), int(total or 0)

