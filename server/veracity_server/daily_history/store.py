"""Storing a daily history batch: limits first, then every point in one transaction.

Idempotent per (user, account, report date, source) through the table's unique constraint:
an INSERT ... ON CONFLICT DO NOTHING RETURNING tells the new points from those already
stored, so a resend (even two copies racing) stores nothing new, and the first value stays.
A point never touches the live snapshots (`snapshot_documents`, `value_points`): history
fills days on the chart, it does not rewrite them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from veracity_contract.daily_history import DailyHistoryRequest, HistoryPositionIn
from veracity_server.errors import InvalidRequest
from veracity_server.ingest.quotas import LimitExceeded
from veracity_server.models import Connector, DailyHistoryPoint

# A report date may be "tomorrow" in UTC for a connector east of Greenwich, never later.
MAX_DAYS_AHEAD = 1
_POSITIONS = TypeAdapter(list[HistoryPositionIn])


@dataclass(frozen=True)
class HistoryLimits:
    """Per request: points (account-days), positions (all days together), body bytes."""

    days: int
    positions: int
    request_bytes: int


@dataclass(frozen=True)
class StoredBatch:
    """What a batch added: the keys of its new points and how many were there already."""

    stored: list[tuple[str, date]]
    already_present: int


def check_body_size(limits: HistoryLimits, content_length: int | None,
                    max_content_length: int | None) -> None:
    """413 `history_request_bytes` before the body is read (above the server's own
    VERACITY_MAX_CONTENT_LENGTH, reading it answers 413 payload_too_large)."""
    if content_length is not None and (
            limits.request_bytes < content_length <= (max_content_length or content_length)):
        raise LimitExceeded(413, "history_request_bytes",
                            f"Limit reached: a daily history request may be at most "
                            f"{limits.request_bytes} bytes; this one has {content_length}. "
                            f"Send fewer days per request.")


def check_batch(limits: HistoryLimits, batch: DailyHistoryRequest, today: date) -> None:
    """413 past a per-request limit; 400 for a report date in the future."""
    days = sum(len(account.days) for account in batch.accounts)
    if days > limits.days:
        raise LimitExceeded(413, "history_days_per_request",
                            f"Limit reached: at most {limits.days} daily points (account-days) "
                            f"per history request; this one has {days}. Send fewer days per "
                            f"request.")
    positions = sum(len(day.positions or ()) for account in batch.accounts
                    for day in account.days)
    if positions > limits.positions:
        raise LimitExceeded(413, "history_positions_per_request",
                            f"Limit reached: at most {limits.positions} positions per history "
                            f"request (all days together); this one has {positions}. Send "
                            f"fewer days per request.")
    latest = today + timedelta(days=MAX_DAYS_AHEAD)
    for index, account in enumerate(batch.accounts):
        for day_index, day in enumerate(account.days):
            if day.report_date > latest:
                raise InvalidRequest(
                    f"accounts[{index}].days[{day_index}].report_date: is in the future "
                    f"(after {latest.isoformat()}); check the clock of the connector's machine")


def positions_blob(positions: list[HistoryPositionIn] | None) -> bytes | None:
    """Flex positions as stored: the validated list as JSON (decimals as strings), zlib'd."""
    if positions is None:
        return None
    return zlib.compress(_POSITIONS.dump_json(positions, exclude_none=True), 1)


def stored_positions(blob: bytes | None) -> list[HistoryPositionIn] | None:
    """The positions a point holds (None: the source gave none)."""
    if blob is None:
        return None
    return _POSITIONS.validate_json(zlib.decompress(blob))


def _insert(dialect_name: str) -> Any:
    module: Any = postgresql if dialect_name == "postgresql" else sqlite
    return module.insert(DailyHistoryPoint).on_conflict_do_nothing(
        index_elements=["user_id", "account_id", "report_date", "source"],
    ).returning(DailyHistoryPoint.account_id, DailyHistoryPoint.report_date,
                DailyHistoryPoint.positions)


def store_batch(session: Session, user_id: int, connector_id: str,
                batch: DailyHistoryRequest, now: datetime) -> StoredBatch:
    """Insert the batch's points in one transaction (committed here); the new ones' keys."""
    rows = [{"user_id": user_id, "connector_id": connector_id,
             "account_id": account.account_id, "report_date": day.report_date,
             "source": batch.source, "currency": account.base_currency, "nav": day.nav,
             "position_count": None if day.positions is None else len(day.positions),
             "positions": positions_blob(day.positions), "received_at": now}
            for account in batch.accounts for day in account.days]
    statement = _insert(session.get_bind().dialect.name)
    try:
        returned = session.execute(statement, rows).all()
        stored = [(str(account_id), report_date) for account_id, report_date, _ in returned]
        added_bytes = sum(len(blob) for _, _, blob in returned if blob is not None)
        if added_bytes:
            # The per-user storage limit counts Flex positions too (history is kept forever).
            session.execute(update(Connector).where(Connector.id == connector_id).values(
                stored_bytes=Connector.stored_bytes + added_bytes))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return StoredBatch(stored=stored, already_present=len(rows) - len(stored))
