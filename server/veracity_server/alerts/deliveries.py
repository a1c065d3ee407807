"""The delivery log: one row per message and channel, claimed, sent, retried with backoff.

A worker claims a due row with one conditional UPDATE (pending and due, or a send whose lease
ran out because its worker died) and sends it after that commit, so several workers share the
queue and a slow SMTP server or webhook never holds a database lock. A failure schedules the
next attempt after the next wait of VERACITY_ALERTS_RETRY_S (with a little jitter, so many
deliveries to one struggling receiver spread out); after the last one, or on a refusal that
retrying cannot fix (HTTP 410 Gone, a malformed address), the row is marked failed.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    and_,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from veracity_server import audit
from veracity_server.alerts.messages import Message
from veracity_server.alerts.model import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    AlertDelivery,
    AlertIncident,
    AlertSettings,
)
from veracity_server.db import Database

log = logging.getLogger(__name__)

# How long a worker may take to send one message before another may take it over.
CLAIM_LEASE = timedelta(minutes=2)
BATCH = 50
JITTER = 0.1
ERROR_MAX_LENGTH = 1000
# The delivery log and ended incidents are kept this long (the page shows the latest).
KEEP = timedelta(days=90)


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: sent, or why not (and whether retrying can help)."""

    sent: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False
    retry_after_s: float | None = None


Sender = Callable[[AlertDelivery], Outcome]


def webhook_body(message: Message) -> bytes:
    """The exact bytes a webhook sends (and signs)."""
    return json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()


def queue(session: Session, settings: AlertSettings, message: Message, now: datetime, *,
          incident_id: int | None = None, channels: tuple[str, ...] = ("email", "webhook"),
          only_enabled: bool = True) -> list[AlertDelivery]:
    """Add one delivery per enabled channel of `settings` (in the caller's transaction) and
    return them; `only_enabled=False` (a test send) takes any channel that has its address."""
    rows = []
    if "email" in channels and (settings.email_enabled or not only_enabled) and (
            settings.email_address):
        rows.append(("email", settings.email_address, message.text.encode()))
    if "webhook" in channels and (settings.webhook_enabled or not only_enabled) and (
            settings.webhook_url and settings.webhook_secret):
        rows.append(("webhook", settings.webhook_url, webhook_body(message)))
    added = [AlertDelivery(
        user_id=settings.user_id, incident_id=incident_id, event=message.event,
        channel=channel, target=target, message_id=f"msg_{uuid.uuid4().hex}",
        subject=message.subject[:300], body=body, status=PENDING, attempts=0,
        created_at=now, next_attempt_at=now) for channel, target, body in rows]
    session.add_all(added)
    return added


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(and_(AlertDelivery.status == PENDING, AlertDelivery.next_attempt_at <= now),
               and_(AlertDelivery.status == SENDING, AlertDelivery.claimed_until < now))


def claim(database: Database, delivery_id: int, now: datetime) -> AlertDelivery | None:
    """Take one due delivery for this worker (None when another took it first)."""
    with database.sessions() as session:
        changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(AlertDelivery).where(AlertDelivery.id == delivery_id, _due(now))
            .values(status=SENDING, claimed_until=now + CLAIM_LEASE,
                    attempts=AlertDelivery.attempts + 1, last_attempt_at=now)
            .execution_options(synchronize_session=False))
        if changed.rowcount != 1:
            session.rollback()
            return None
        session.commit()
        return session.get(AlertDelivery, delivery_id)


def next_wait_s(attempts: int, retry_delays_s: tuple[float, ...]) -> float | None:
    """The wait before the next attempt after `attempts` tries; None when they are used up."""
    if attempts > len(retry_delays_s):
        return None
    wait = retry_delays_s[attempts - 1]
    return wait * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 — spreading, not secrecy


def finish(database: Database, delivery: AlertDelivery, outcome: Outcome, now: datetime,
           retry_delays_s: tuple[float, ...]) -> str:
    """Record the attempt's outcome; returns the delivery's new status."""
    values: dict[str, object] = {"claimed_until": None, "last_status_code": outcome.status_code}
    if outcome.sent:
        values.update(status=SENT, sent_at=now, last_error=None, next_attempt_at=None)
    else:
        wait = None if outcome.permanent else next_wait_s(delivery.attempts, retry_delays_s)
        if wait is not None and outcome.retry_after_s is not None:
            wait = max(wait, outcome.retry_after_s)  # the receiver asked for at least that
        values.update(status=FAILED if wait is None else PENDING,
                      last_error=(outcome.error or "failed")[:ERROR_MAX_LENGTH],
                      next_attempt_at=None if wait is None else now + timedelta(seconds=wait))
    with database.sessions() as session:
        session.execute(update(AlertDelivery).where(AlertDelivery.id == delivery.id)
                        .values(**values))
        if outcome.sent and delivery.incident_id is not None:
            record_alert_sent(session, delivery, now)
        session.commit()
    return str(values["status"])


def record_alert_sent(session: Session, delivery: AlertDelivery, now: datetime) -> None:
    """The connector's audit log gets an "alert sent" event (veracity_server.audit)."""
    incident = session.get(AlertIncident, delivery.incident_id)
    if incident is None:
        return
    audit.record_event(session, incident.connector_id, audit.ALERT_SENT,
                       {"alert": incident.kind, "event": delivery.event,
                        "channel": delivery.channel}, at=now)


def send_due(database: Database, now: datetime, senders: dict[str, Sender],
             retry_delays_s: tuple[float, ...], clock: Callable[[], datetime]) -> int:
    """Send every due delivery this worker can claim; returns how many were attempted."""
    with database.sessions() as session:
        due_ids = session.scalars(select(AlertDelivery.id).where(_due(now))
                                  .order_by(AlertDelivery.id).limit(BATCH)).all()
    attempted = 0
    for delivery_id in due_ids:
        delivery = claim(database, delivery_id, clock())
        if delivery is None:
            continue
        attempted += 1
        sender = senders.get(delivery.channel)
        try:
            outcome = sender(delivery) if sender else Outcome(
                False, error=f"no sender for {delivery.channel}", permanent=True)
        except Exception as error:  # one bad delivery must not stop the rest
            log.exception("delivery %s raised", delivery.id)
            outcome = Outcome(False, error=f"{type(error).__name__}: {error}")
        status = finish(database, delivery, outcome, clock(), retry_delays_s)
        log.info("delivery %s (%s %s, attempt %d): %s%s", delivery.id, delivery.channel,
                 delivery.event, delivery.attempts, status,
                 f" — {outcome.error}" if outcome.error else "")
    return attempted


def prune(database: Database, now: datetime, keep: timedelta = KEEP) -> int:
    """Delete finished deliveries and incidents older than `keep`; returns rows deleted.

    Only what is settled goes: sent or failed deliveries, and incidents that ended with nothing
    left to send (their deliveries go with them, by the foreign key's cascade).
    """
    cutoff = now - keep
    with database.sessions() as session:
        deleted = session.execute(delete(AlertDelivery).where(
            AlertDelivery.created_at < cutoff, AlertDelivery.status.in_((SENT, FAILED))))
        unsent = exists().where(AlertDelivery.incident_id == AlertIncident.id,
                                AlertDelivery.status.in_((PENDING, SENDING)))
        ended = session.execute(delete(AlertIncident).where(
            AlertIncident.resolved_at < cutoff, ~unsent,
            or_(AlertIncident.notified_at.is_(None),
                AlertIncident.resolve_notified_at.is_not(None))))
        session.commit()
    return int(deleted.rowcount or 0) + int(ended.rowcount or 0)  # type: ignore[attr-defined]


def recent(session: Session, user_id: int, limit: int = 20) -> list[AlertDelivery]:
    """The user's latest deliveries, newest first (the page's delivery log)."""
    return list(session.scalars(select(AlertDelivery).where(AlertDelivery.user_id == user_id)
                                .order_by(AlertDelivery.id.desc()).limit(limit)))
