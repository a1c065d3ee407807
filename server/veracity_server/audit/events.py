"""Recording and reading connector events (the `connector_events` table of models.py).

Writes come from the places where things happen (pairing, revocation, the heartbeat's UPDATE,
refusals, the alert worker, reconciliation); reads are the Profile page's, keyset-paged on
(at, id) so a page costs one index range scan however long the log is. Retention
(history/retention.py) deletes events older than VERACITY_RETAIN_AUDIT_DAYS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from veracity_server.columns import utc_now
from veracity_server.db import Database
from veracity_server.models import ConnectorEvent

PAIRED = "paired"  # detail: hostname, platform, ip
NEW_IP = "new_ip"  # detail: ip (the key was used from an IP other than the last one)
REVOKED = "revoked"  # detail: (none)
SESSION_STATE = "session_state"  # detail: state, message (a gateway state transition)
ALERT_SENT = "alert_sent"  # detail: written by veracity_server/alerts
REFUSAL = "refusal"  # detail: status, code, message (a snapshot refused)
RECONCILIATION_DIFFERENCE = "reconciliation_difference"  # detail: written by daily history

KIND_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
DETAIL_KEYS_MAX = 16
DETAIL_KEY_MAX = 40
DETAIL_TEXT_MAX = 300
PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100


def detail_json(detail: dict[str, Any] | None) -> str:
    """`detail` as the stored JSON: at most DETAIL_KEYS_MAX keys, scalars only, text cut."""
    clean: dict[str, Any] = {}
    for key, value in list((detail or {}).items())[:DETAIL_KEYS_MAX]:
        if value is None or isinstance(value, bool | int | float):
            clean[str(key)[:DETAIL_KEY_MAX]] = value
        else:
            clean[str(key)[:DETAIL_KEY_MAX]] = str(value)[:DETAIL_TEXT_MAX]
    return json.dumps(clean, separators=(",", ":"), ensure_ascii=False)


def event_values(connector_id: str, kind: str, detail: dict[str, Any] | None,
                 at: datetime | None) -> dict[str, Any]:
    """The row of one event, checked: a bad kind or a naive time is a programming error."""
    if not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"audit event kind must be 1-32 of a-z, 0-9, _: {kind!r}")
    moment = utc_now() if at is None else at
    if moment.tzinfo is None:
        raise ValueError("audit event time must be timezone-aware")
    return {"connector_id": connector_id, "kind": kind, "at": moment.astimezone(UTC),
            "detail": detail_json(detail)}


def record_event(target: Session | Connection | Database, connector_id: str, kind: str,
                 detail: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    """Add one event to the connector's audit log.

    With a Session or Connection the event is part of the caller's transaction (it commits
    it); with a Database it is written and committed at once.
    """
    statement = insert(ConnectorEvent).values(**event_values(connector_id, kind, detail, at))
    if isinstance(target, Database):
        with target.engine.begin() as connection:
            connection.execute(statement)
    else:
        target.execute(statement)


@dataclass(frozen=True)
class AuditEvent:
    """One event as the page shows it."""

    id: int
    kind: str
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class EventPage:
    """A page of events, newest first, and the cursor of the next (older) page, if any."""

    events: list[AuditEvent]
    next_cursor: str | None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor_of(event: AuditEvent) -> str:
    micros = (event.at - EPOCH) // timedelta(microseconds=1)  # exact: no float on the way
    return f"{micros}.{event.id}"


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """(at, id) of a cursor from `_cursor_of`; None for none or a malformed one (first page)."""
    if not cursor:
        return None
    micros, _, event_id = cursor.partition(".")
    if not (micros.isdigit() and event_id.isdigit() and len(micros) <= 20
            and len(event_id) <= 20):
        return None
    seconds, rest = divmod(int(micros), 1_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)
    except (OverflowError, OSError, ValueError):
        return None
    return moment, int(event_id)


def list_events(session: Session, connector_id: str, cursor: str | None = None,
                limit: int = PAGE_SIZE_DEFAULT) -> EventPage:
    """One page of the connector's events, newest first, older than `cursor` when given."""
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    query = select(ConnectorEvent).where(ConnectorEvent.connector_id == connector_id)
    after = _parse_cursor(cursor)
    if after is not None:
        at, event_id = after
        query = query.where(or_(ConnectorEvent.at < at,
                                and_(ConnectorEvent.at == at, ConnectorEvent.id < event_id)))
    rows = session.scalars(query.order_by(ConnectorEvent.at.desc(), ConnectorEvent.id.desc())
                           .limit(limit + 1)).all()
    events = [AuditEvent(row.id, row.kind, row.at, _detail(row.detail)) for row in rows[:limit]]
    return EventPage(events, _cursor_of(events[-1]) if len(rows) > limit else None)


def _detail(stored: str) -> dict[str, Any]:
    try:
        value = json.loads(stored)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
