"""What Veracity notices per connector, and incidents opened and resolved exactly once.

One pass (`run_detection`) does two steps, each safe to run in several workers at once:
1. `observe`: for each connector of a user with an alert channel, evaluate each condition and
   open an incident when it starts (a partial unique index keeps one open per connector and
   kind) or resolve the open one when it ends (`UPDATE ... WHERE resolved_at IS NULL`).
2. `notify`: an open incident past its threshold, inside the user's schedule, gets its
   "opened" messages queued by the one UPDATE that sets `notified_at` (row count 1 wins); a
   resolved incident that was notified gets its "resolved" messages the same way. An incident
   that starts and ends while the schedule is closed, or below its threshold, sends nothing.

`now` is a parameter throughout, so tests drive the steps with any clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy import CursorResult, and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veracity_server.alerts import deliveries, messages
from veracity_server.alerts.model import AlertIncident, AlertKeyRefusal, AlertSettings
from veracity_server.alerts.preferences import schedule_of
from veracity_server.db import Database
from veracity_server.models import Connector

log = logging.getLogger(__name__)

SILENT, GATEWAY_LOGIN, COMPETING = "silent", "gateway_login", "competing"
KEY_REFUSED, SNAPSHOTS_REFUSED, UPDATE_AVAILABLE = (
    "key_refused", "snapshots_refused", "update_available")
# A refused snapshot or a refused key counts as current this long after the last refusal when
# nothing newer says otherwise (a connector that gave up trying ends the incident).
REFUSAL_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Observation:
    """One condition of one connector now: present or not, since when, in words."""

    kind: str
    present: bool
    since: datetime
    detail: str = ""


def threshold_s(kind: str, settings: AlertSettings) -> int:
    """How long a condition must last before it is an alert (per the user's settings).

    Silence is measured from the last heartbeat, so its observation appears only once the
    threshold has passed; the gateway states are measured from when they began.
    """
    if kind == GATEWAY_LOGIN:
        return settings.login_after_s
    if kind == COMPETING:
        return settings.competing_after_s
    return 0


def is_older_version(version: str, latest: str | None) -> bool:
    """True when `version` is older than `latest` (unparsable versions are never older)."""
    if not latest:
        return False
    try:
        return Version(version) < Version(latest)
    except InvalidVersion:
        return False


def observe_connector(connector: Connector, refusal: AlertKeyRefusal | None,
                      settings: AlertSettings, now: datetime,
                      latest_version: str | None) -> list[Observation]:
    """Each condition of `connector` at `now`; a condition that cannot be known is left out."""
    if connector.revoked_at is not None:
        # A revoked connector can only be "still trying with its old key"; whatever else was
        # open about it ends with the revocation.
        refused = (refusal is not None and refusal.last_refused_at > connector.revoked_at
                   and now - refusal.last_refused_at < REFUSAL_WINDOW)
        since = refusal.first_refused_at if refusal is not None else now
        return [Observation(KEY_REFUSED, refused, since,
                            f"{refusal.refusals} request(s) with the revoked key" if refused
                            and refusal else ""),
                *(Observation(kind, False, now) for kind in
                  (SILENT, GATEWAY_LOGIN, COMPETING, SNAPSHOTS_REFUSED, UPDATE_AVAILABLE))]
    found: list[Observation] = []
    last_heard = connector.last_seen_at or connector.created_at
    silent = now - last_heard >= timedelta(seconds=settings.silent_after_s)
    found.append(Observation(SILENT, silent, last_heard,
                             f"no heartbeat since {last_heard:%Y-%m-%d %H:%M:%S} UTC"))
    if not silent:
        # A silent connector's gateway state is as old as its last heartbeat: not known now.
        state = connector.gateway_state
        since = connector.gateway_state_since or now
        found.append(Observation(GATEWAY_LOGIN, state == "unauthenticated", since,
                                 connector.gateway_message or "the gateway is not logged in"))
        found.append(Observation(COMPETING, state == "competing", since,
                                 connector.gateway_message or
                                 "another IBKR session holds the gateway's session"))
    refused_at = connector.last_refusal_at
    snapshots_refused = (refused_at is not None and now - refused_at < REFUSAL_WINDOW and (
        connector.last_snapshot_at is None or connector.last_snapshot_at < refused_at))
    found.append(Observation(
        SNAPSHOTS_REFUSED, snapshots_refused, refused_at or now,
        f"HTTP {connector.last_refusal_status} {connector.last_refusal_code}: "
        f"{connector.last_refusal_message}" if snapshots_refused else ""))
    outdated = settings.update_alerts and is_older_version(connector.connector_version,
                                                           latest_version)
    found.append(Observation(UPDATE_AVAILABLE, outdated, now,
                             f"version {connector.connector_version} runs; {latest_version} "
                             f"is available" if outdated else ""))
    found.append(Observation(KEY_REFUSED, False, now))
    return found


def _watched_connectors(session: Session) -> Iterable[tuple[Connector, AlertSettings,
                                                            AlertKeyRefusal | None]]:
    """Connectors whose users have a channel on: live ones, and revoked ones still tried or
    with an incident open."""
    open_incident = exists().where(AlertIncident.connector_id == Connector.id,
                                   AlertIncident.resolved_at.is_(None))
    query = (select(Connector, AlertSettings, AlertKeyRefusal)
             .join(AlertSettings, AlertSettings.user_id == Connector.user_id)
             .outerjoin(AlertKeyRefusal, AlertKeyRefusal.connector_id == Connector.id)
             .where(or_(AlertSettings.email_enabled, AlertSettings.webhook_enabled))
             .where(or_(Connector.revoked_at.is_(None), open_incident,
                        AlertKeyRefusal.last_refused_at > Connector.revoked_at)))
    return session.execute(query).tuples().all()


def observe(database: Database, now: datetime, latest_version: str | None) -> int:
    """Open and resolve incidents from what each watched connector shows; returns changes."""
    changes = 0
    with database.sessions() as session:
        watched = list(_watched_connectors(session))
        open_rows = session.scalars(select(AlertIncident).where(
            AlertIncident.resolved_at.is_(None),
            AlertIncident.connector_id.in_([row[0].id for row in watched]))).all()
    open_by_key = {(row.connector_id, row.kind): row for row in open_rows}
    for connector, settings, refusal in watched:
        for seen in observe_connector(connector, refusal, settings, now, latest_version):
            incident = open_by_key.get((connector.id, seen.kind))
            if seen.present and incident is None:
                changes += _open(database, connector, seen)
            elif not seen.present and incident is not None:
                changes += _resolve(database, incident.id, now)
    return changes


def _open(database: Database, connector: Connector, seen: Observation) -> int:
    with database.sessions() as session:
        session.add(AlertIncident(user_id=connector.user_id, connector_id=connector.id,
                                  kind=seen.kind, detail=seen.detail[:2000],
                                  started_at=seen.since))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another worker opened it first
            return 0
    log.info("incident opened: %s on connector %s", seen.kind, connector.id)
    return 1


def _resolve(database: Database, incident_id: int, now: datetime) -> int:
    with database.sessions() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(AlertIncident).where(AlertIncident.id == incident_id,
                                        AlertIncident.resolved_at.is_(None))
            .values(resolved_at=now))
        changed = result.rowcount
        session.commit()
    if changed:
        log.info("incident %s resolved", incident_id)
    return int(changed or 0)


def notify(database: Database, now: datetime, base_url: str | None) -> int:
    """Queue the "opened" and "resolved" messages that are due; returns incidents notified."""
    notified = 0
    with database.sessions() as session:
        due = session.execute(
            select(AlertIncident, AlertSettings, Connector)
            .join(AlertSettings, AlertSettings.user_id == AlertIncident.user_id)
            .join(Connector, Connector.id == AlertIncident.connector_id)
            # A user with every channel off is not told later about what happened meanwhile.
            .where(or_(AlertSettings.email_enabled, AlertSettings.webhook_enabled))
            .where(or_(
                and_(AlertIncident.notified_at.is_(None), AlertIncident.resolved_at.is_(None)),
                and_(AlertIncident.notified_at.is_not(None),
                     AlertIncident.resolved_at.is_not(None),
                     AlertIncident.resolve_notified_at.is_(None))))).tuples().all()
    for incident, settings, connector in due:
        if not schedule_of(settings).is_open(now):
            continue  # quiet hours or snoozed: it waits (or ends unsent)
        if incident.notified_at is None:
            wait = timedelta(seconds=threshold_s(incident.kind, settings))
            if now - incident.started_at < wait:
                continue
            event = messages.OPENED
        else:
            event = messages.RESOLVED
        notified += _claim_and_queue(database, incident, settings, connector, now, event,
                                     base_url)
    return notified


def _claim_and_queue(database: Database, incident: AlertIncident, settings: AlertSettings,
                     connector: Connector, now: datetime, event: str,
                     base_url: str | None) -> int:
    """Mark the incident notified for `event` and queue its messages, in one transaction;
    only the worker whose UPDATE changed the row queues them."""
    column = (AlertIncident.notified_at if event == messages.OPENED
              else AlertIncident.resolve_notified_at)
    with database.sessions() as session:
        changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(AlertIncident).where(AlertIncident.id == incident.id, column.is_(None))
            .values({column.key: now}))
        if changed.rowcount != 1:
            session.rollback()
            return 0
        message = messages.incident_message(event, incident, connector, now, base_url)
        queued = deliveries.queue(session, settings, message, now, incident_id=incident.id)
        session.commit()
    log.info("incident %s %s: %d message(s) queued", incident.id, event, len(queued))
    return 1


def run_detection(database: Database, now: datetime, latest_version: str | None,
                  base_url: str | None) -> None:
    """One detection pass: observe every watched connector, then queue what is due."""
    observe(database, now, latest_version)
    notify(database, now, base_url)
