"""The bodies of Veracity's daily-history endpoint, cut to fit its per-request limits.

`POST /api/v1/connector/history/daily` (docs/contract.md "Daily history") takes one source per
request and refuses a batch past its limits (points, positions, bytes) whole. A series is cut
into batches of whole days (every account's point of a day in the same batch) that stay under
the limits, each a JSON text queued in the outbox with an id made from its content: queuing the
same batch again is ignored by the outbox, and sending it again stores nothing new on the server.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from veracity_connector.history.points import DailyPoint, DailyPosition, DailySeries
from veracity_connector.numbers import decimal_to_string
from veracity_contract.daily_history import MAX_DAYS_PER_ACCOUNT

logger = logging.getLogger(__name__)

HISTORY_PATH = "/api/v1/connector/history/daily"


@dataclass(frozen=True)
class HistoryLimits:
    """Veracity's per-request limits (its heartbeat's `limits`, else the documented defaults)."""

    days_per_request: int = 2000
    positions_per_request: int = 20_000
    request_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class HistoryBatch:
    """One request body, its outbox id and the days it covers."""

    item_id: str
    body: str
    first_day: date
    last_day: date
    points: int


def batches(series: DailySeries, limits: HistoryLimits | None = None) -> list[HistoryBatch]:
    """The series as request bodies of whole days, oldest first, each under the limits."""
    limits = limits or HistoryLimits()
    by_day: dict[date, list[DailyPoint]] = {}
    for point in series.points:
        if not point.base_currency:
            # The contract needs the base currency; IBKR gives it with every NAV it documents.
            logger.warning("a %s history point without its base currency is left out",
                           series.source)
            continue
        by_day.setdefault(point.day, []).append(point)
    # A tenth kept back for the JSON around the points, so a batch never grazes the limit.
    byte_budget = int(limits.request_bytes * 0.9)
    found: list[HistoryBatch] = []
    current: list[DailyPoint] = []
    size = positions = 0
    for day in sorted(by_day):
        day_points = by_day[day]
        day_size = sum(len(json.dumps(_day_entry(point))) + 1 for point in day_points)
        day_positions = sum(len(point.positions or ()) for point in day_points)
        days_in_current = len({point.day for point in current})
        if current and (len(current) + len(day_points) > limits.days_per_request
                        or positions + day_positions > limits.positions_per_request
                        or size + day_size > byte_budget
                        or days_in_current + 1 > MAX_DAYS_PER_ACCOUNT):
            found.append(_batch(series.source, current))
            current, size, positions = [], 0, 0
        current += day_points
        size += day_size
        positions += day_positions
    if current:
        found.append(_batch(series.source, current))
    return found


def _batch(source: str, points: list[DailyPoint]) -> HistoryBatch:
    accounts: dict[str, dict[str, Any]] = {}
    for point in points:
        account = accounts.setdefault(point.account_id, {
            "account_id": point.account_id, "base_currency": point.base_currency, "days": []})
        account["days"].append(_day_entry(point))
    body = json.dumps({"source": source, "accounts": list(accounts.values())},
                      separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    days = [point.day for point in points]
    return HistoryBatch(f"history-{source}-{digest}", body, min(days), max(days), len(points))


def _day_entry(point: DailyPoint) -> dict[str, Any]:
    entry: dict[str, Any] = {"report_date": point.day.isoformat(),
                             "nav": decimal_to_string(point.nav)}
    if point.positions is not None:
        entry["positions"] = [_position(position) for position in point.positions]
    return entry


def _position(position: DailyPosition) -> dict[str, Any]:
    entry: dict[str, Any] = {"conid": position.conid,
                             "quantity": decimal_to_string(position.quantity)}
    for name, value in (("symbol", position.symbol), ("description", position.description),
                        ("asset_class", position.asset_class), ("currency", position.currency)):
        if value:
            entry[name] = value
    for name, number in (("market_price", position.market_price),
                         ("market_value", position.market_value),
                         ("fx_rate_to_base", position.fx_rate_to_base),
                         ("multiplier", position.multiplier)):
        if number is not None:
            entry[name] = decimal_to_string(number)
    return entry


def iter_days(body: str) -> Iterator[date]:
    """The report dates in a queued body (to record what Veracity acknowledged)."""
    for account in json.loads(body).get("accounts", []):
        for day in account.get("days", []):
            yield date.fromisoformat(day["report_date"])
