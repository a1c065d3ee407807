"""The portfolio the profile API returns: current accounts with positions and stop orders, and
the portfolio-value history.

An account's current state is its snapshot row with the newest `taken_at` (a late, backfilled
snapshot never replaces a newer one). Each accepted snapshot's accounts are the history points.
Numbers leave as exact decimal strings. Per-position risk (protective stop) is added by
`veracity_server.profile.risk.annotate_account`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veracity_server.columns import iso_utc
from veracity_server.models import (
    POSITION_DATA_COLUMNS,
    STOP_ORDER_DATA_COLUMNS,
    Position,
    Snapshot,
    SnapshotAccount,
    StopOrder,
)
from veracity_server.profile.risk import annotate_account

# Charts need a shape, not every 2-minute point of a year: thin long histories to this many.
MAX_HISTORY_POINTS_PER_ACCOUNT = 1000


def _plain(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value


def _row_dict(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in fields}


def current_accounts(session: Session, user_id: int) -> list[SnapshotAccount]:
    """The accounts of each connector's newest snapshot (by taken_at); an account reported by
    several connectors comes from the newest of them.

    A connector sends every account it can see in each snapshot (a failed read sends nothing),
    so an account missing from its newest snapshot is closed or no longer visible: it is not
    current any more, and must not keep showing old positions as if they were live.
    """
    newest = (select(Snapshot.connector_id, func.max(Snapshot.taken_at).label("taken"))
              .where(Snapshot.user_id == user_id)
              .group_by(Snapshot.connector_id).subquery())
    newest_snapshots = (select(Snapshot.id)
                        .join(newest, (Snapshot.connector_id == newest.c.connector_id)
                              & (Snapshot.taken_at == newest.c.taken))
                        .where(Snapshot.user_id == user_id))
    rows = session.scalars(
        select(SnapshotAccount)
        .where(SnapshotAccount.user_id == user_id,
               SnapshotAccount.snapshot_pk.in_(newest_snapshots))
        .order_by(SnapshotAccount.account_id, SnapshotAccount.taken_at.desc(),
                  SnapshotAccount.id.desc())
    ).all()
    chosen: dict[str, SnapshotAccount] = {}
    for row in rows:
        chosen.setdefault(row.account_id, row)  # ties on taken_at: the one stored last
    return list(chosen.values())


def _children(session: Session, model: Any, account_pks: list[int]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    if account_pks:
        for row in session.scalars(select(model).where(model.snapshot_account_id.in_(account_pks))
                                   .order_by(model.id)):
            grouped[row.snapshot_account_id].append(row)
    return grouped


def value_history(session: Session, user_id: int, since: datetime) -> list[dict[str, Any]]:
    """Net liquidation over time, one series per account, oldest first."""
    rows = session.execute(
        select(SnapshotAccount.account_id, SnapshotAccount.base_currency,
               SnapshotAccount.taken_at, SnapshotAccount.net_liquidation)
        .where(SnapshotAccount.user_id == user_id, SnapshotAccount.taken_at >= since,
               SnapshotAccount.net_liquidation.is_not(None))
        .order_by(SnapshotAccount.account_id, SnapshotAccount.taken_at, SnapshotAccount.id)
    ).all()
    series: dict[str, dict[str, Any]] = {}
    for account_id, currency, taken_at, value in rows:
        entry = series.setdefault(account_id, {"account_id": account_id, "currency": currency,
                                               "points": []})
        entry["currency"] = currency or entry["currency"]
        points = entry["points"]
        # Two snapshots with the same taken_at are one moment: keep the last one stored.
        if points and points[-1]["taken_at"] == iso_utc(taken_at):
            points.pop()
        points.append({"taken_at": iso_utc(taken_at), "net_liquidation": _plain(value)})
    for entry in series.values():
        entry["points"] = _thin(entry["points"], MAX_HISTORY_POINTS_PER_ACCOUNT)
    return list(series.values())


def _thin(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most `limit` evenly spread points, always keeping the newest."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    picked = [points[int(index * step)] for index in range(limit - 1)]
    return [*picked, points[-1]]


def build_portfolio(session: Session, user_id: int, history_days: int,
                    now: datetime) -> dict[str, Any]:
    """The whole portfolio answer for `user_id`."""
    accounts = current_accounts(session, user_id)
    pks = [account.id for account in accounts]
    positions = _children(session, Position, pks)
    orders = _children(session, StopOrder, pks)
    snapshot_ids: dict[int, str] = {}
    if accounts:
        rows = session.execute(select(Snapshot.id, Snapshot.snapshot_id).where(
            Snapshot.id.in_({account.snapshot_pk for account in accounts})))
        snapshot_ids = {row.id: row.snapshot_id for row in rows}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    answer_accounts = []
    for account in accounts:
        if account.net_liquidation is not None:
            totals[account.base_currency or ""] += account.net_liquidation
        answer_accounts.append(annotate_account({
            "account_id": account.account_id,
            "base_currency": account.base_currency,
            "net_liquidation": _plain(account.net_liquidation),
            "cash": _plain(account.cash),
            "taken_at": iso_utc(account.taken_at),
            "snapshot_id": snapshot_ids.get(account.snapshot_pk),
            "positions": [_row_dict(row, POSITION_DATA_COLUMNS) for row in positions[account.id]],
            "stop_orders": [_row_dict(row, STOP_ORDER_DATA_COLUMNS) for row in orders[account.id]],
        }))
    return {
        "as_of": max((account["taken_at"] for account in answer_accounts), default=None),
        "accounts": answer_accounts,
        # Summed per currency only: adding USD to EUR without a rate would be a made-up number.
        "net_liquidation_by_currency": {currency: _plain(total)
                                        for currency, total in sorted(totals.items())},
        "value_history": value_history(session, user_id, now - timedelta(days=history_days)),
    }
