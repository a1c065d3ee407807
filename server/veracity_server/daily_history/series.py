"""The chart's history points: a daily history point for each day without live data.

A day with live value points (any snapshot of that UTC day) shows the live value: history
never replaces it. A day without one shows its history point, Flex's if both sources sent
one (the statement is IBKR's official end of day), else the gateway's. Each point carries
its source ("live", "gateway", "flex") so the page can mark where it comes from. History
points are placed at 23:59:59 UTC of their report date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from veracity_server.models import DailyHistoryPoint, ValuePoint

END_OF_DAY = time(23, 59, 59)
SOURCE_RANK = {"gateway": 1, "flex": 2}  # higher wins a day both sources sent


def history_moment(day: date) -> str:
    """Where a history point of `day` sits on the time axis (ISO, as the live points)."""
    return f"{day.isoformat()}T{END_OF_DAY.isoformat()}Z"


def live_days(session: Session, user_id: int, since: datetime | None) -> set[tuple[str, date]]:
    """(account, UTC day) of every day with live value points since `since`.

    Levels -1 (not marked yet) and 3 (the last of its day) are enough: every day retention
    has marked keeps its level-3 point forever, so one point per day is read, not all.
    """
    conditions = [ValuePoint.user_id == user_id, ValuePoint.level.in_((-1, 3))]
    if since is not None:
        conditions.append(ValuePoint.taken_at >= datetime.combine(since.date(), time(0), UTC))
    rows = session.execute(select(ValuePoint.account_id, ValuePoint.taken_at)
                           .where(*conditions)).all()
    return {(str(account), moment.astimezone(UTC).date()) for account, moment in rows}


def history_points(session: Session, user_id: int,
                   since: datetime | None) -> dict[str, dict[date, tuple[str, str, Decimal]]]:
    """{account: {day: (source, currency, nav)}}: the preferred history point of each day."""
    conditions = [DailyHistoryPoint.user_id == user_id]
    if since is not None:
        conditions.append(DailyHistoryPoint.report_date >= since.date())
    rows = session.execute(select(DailyHistoryPoint.account_id, DailyHistoryPoint.report_date,
                                  DailyHistoryPoint.source, DailyHistoryPoint.currency,
                                  DailyHistoryPoint.nav).where(*conditions)).all()
    chosen: dict[str, dict[date, tuple[str, str, Decimal]]] = {}
    for account_id, day, source, currency, nav in rows:
        days = chosen.setdefault(str(account_id), {})
        held = days.get(day)
        if held is None or SOURCE_RANK.get(source, 0) > SOURCE_RANK.get(held[0], 0):
            days[day] = (str(source), str(currency), nav)
    return chosen


def thin_points(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most `limit` points evenly spread, always keeping the newest (the list is sorted)."""
    if len(points) <= limit:
        return points
    step = -(-len(points) // limit)
    newest_first = points[::-1][::step]
    return newest_first[::-1]


def add_history(series: list[dict[str, Any]], session: Session, user_id: int,
                since: datetime | None, now: datetime, limit: int) -> list[dict[str, Any]]:
    """`series` (live points, each marked "live") with the history points of days without
    live data in the range added, each account's points sorted and thinned to `limit`."""
    history = history_points(session, user_id, since)
    if not history:
        return series
    live = live_days(session, user_id, since)
    by_account = {entry["account_id"]: entry for entry in series}
    for account_id, days in sorted(history.items()):
        added = []
        for day, (source, currency, nav) in days.items():
            moment = history_moment(day)
            if (account_id, day) in live or (since is not None and moment < _iso(since)) or (
                    moment[:10] > _iso(now)[:10]):
                continue
            added.append({"taken_at": moment, "net_liquidation": format(nav, "f"),
                          "source": source, "_currency": currency})
        if not added:
            continue
        entry = by_account.get(account_id)
        if entry is None:
            entry = by_account[account_id] = {"account_id": account_id,
                                              "currency": added[0]["_currency"], "points": []}
            series.append(entry)
        for point in added:
            del point["_currency"]
        entry["points"] = thin_points(sorted([*entry["points"], *added],
                                             key=lambda point: point["taken_at"]), limit)
    return sorted(series, key=lambda entry: entry["account_id"])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
