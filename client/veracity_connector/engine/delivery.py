"""Delivery to Veracity: the outbox oldest first, heartbeats, and what each failure class means.

Connection errors, 5xx, redirects and answers that are not Veracity's (a proxy's 401/407, a
captive portal's page; after the client's few quick retries) → Veracity is unreachable:
snapshots stay in the outbox, delivery backs off, and the state says what answered; 429 → wait
as long as Veracity says; 401 `invalid_key` → the key was refused (the engine deletes it, the
outbox stays for the next pairing with the same account); any other refusal of a snapshot →
that snapshot moves to the outbox's bounded refusals with Veracity's message, and the state
says so until a later snapshot is accepted; a limit Veracity names (its `Veracity-Limit`
header on a 413 or 429) is named in the state too (sending it again would fail the same way, and
keeping it queued would block the rest).

Delivery is budgeted: one call sends for at most `DELIVERY_BUDGET_S`, and stops as soon as the
gateway tickle or the heartbeat is due, handing back to the loop, which does them before the
next chunk — a backlog of a thousand snapshots never starves either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from veracity_connector.engine.outcome import EngineCounters
from veracity_connector.engine.timetable import Timetable
from veracity_connector.gateway import SessionCheck
from veracity_connector.outbox import HISTORY, Outbox, OutboxItem
from veracity_connector.veracity_api import (
    KeyRevoked,
    RequestRejected,
    VeracityClient,
    VeracityError,
    VeracityRateLimited,
    VeracityUnavailable,
)
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)

DELIVERY_BACKOFF_INITIAL_S = 5.0
OUTBOX_BATCH = 50
DELIVERY_BUDGET_S = 5.0  # the longest one delivery call keeps the loop from its other jobs


@dataclass(frozen=True)
class RefusalNotice:
    """The latest snapshot Veracity refused, for the person-facing state."""

    status: int | None
    code: str
    message: str
    limit: str = ""  # the Veracity limit it went past, if that was the reason

    def sentence(self) -> str:
        """The line shown: 'Veracity refused a snapshot: … (invalid_request, HTTP 400)'."""
        if self.limit:
            return (f"Veracity refused a snapshot over its limit {limit_name(self.limit)}: "
                    f"{self.message} ({self.code or 'no code'}, HTTP {self.status})")
        return (f"Veracity refused a snapshot: {self.message} "
                f"({self.code or 'no code'}, HTTP {self.status})")


def limit_name(limit: str) -> str:
    """'snapshots per minute' from Veracity's 'snapshots_per_minute'."""
    return "'" + limit.replace("_", " ") + "'"
GATEWAY_MESSAGE_MAX_LENGTH = 500


class Delivery:
    """Sends queued snapshots and heartbeats; keeps what the person should know about it."""

    def __init__(self, veracity: VeracityClient | None, outbox: Outbox, timetable: Timetable,
                 counters: EngineCounters, clock: Callable[[], float],
                 stop_event: threading.Event,
                 on_key_refused: Callable[[str], None],
                 on_history_delivered: Callable[[OutboxItem], None] | None = None) -> None:
        self._veracity = veracity
        # Told when Veracity stored (or already had) a batch of daily history (history duty).
        self.on_history_delivered = on_history_delivered
        self._outbox = outbox
        self._timetable = timetable
        self._counters = counters
        self._clock = clock
        self._stop_event = stop_event
        self._on_key_refused = on_key_refused
        self._backoff_s = DELIVERY_BACKOFF_INITIAL_S
        self.down_message = ""  # why Veracity is unreachable; "" while it answers
        self.last_snapshot_at: datetime | None = None  # newest taken_at Veracity has stored
        self.last_sync_at: datetime | None = None  # when Veracity last accepted something
        self.refusal: RefusalNotice | None = None  # until a later snapshot is accepted
        # A Veracity limit that holds delivery back (429 with a limit named), until it answers.
        self.limit_message = ""

    def send_outbox(self, key: str, *, budget_s: float | None = DELIVERY_BUDGET_S) -> bool:
        """Send queued snapshots oldest first; True if the outbox was emptied.

        With a `budget_s`, stops after that long and plans the rest at once: the loop does what
        else is due first. `None` sends until empty (`sync --once`).
        """
        assert self._veracity is not None
        deadline = None if budget_s is None else time.monotonic() + budget_s
        sent = 0
        while not self._stop_event.is_set():
            batch = self._outbox.oldest(OUTBOX_BATCH)
            if not batch:
                self._backoff_s = DELIVERY_BACKOFF_INITIAL_S
                return True
            for item in batch:
                # At least one per call, so a job that is always due (a slow snapshot outlasting
                # a short tickle interval) cannot starve delivery.
                if deadline is not None and sent and (time.monotonic() >= deadline
                                                      or self._other_job_due()):
                    self._timetable.next_delivery = self._clock()  # more after the other jobs
                    return False
                if not self._send(key, item):
                    return False
                sent += 1
        return False

    def _other_job_due(self) -> bool:
        """The gateway tickle or the heartbeat is due: they go first, delivery resumes after."""
        return self._clock() >= min(self._timetable.next_tickle, self._timetable.next_heartbeat)

    def _send(self, key: str, item: OutboxItem) -> bool:
        """Send one queued snapshot; False when delivery must stop for now."""
        assert self._veracity is not None
        if item.kind == HISTORY:
            return self._send_history(key, item)
        try:
            duplicate = self._veracity.send_snapshot(key, item.body)
        except RequestRejected as error:
            self._refused(item, error)
            return True
        except VeracityError as error:
            self._failed(error, key)
            return False
        self._outbox.remove(item.snapshot_id)
        self._counters.snapshots_delivered += 1
        self._succeeded()
        self.refusal = None
        taken_at = datetime.fromisoformat(item.taken_at)
        if self.last_snapshot_at is None or taken_at > self.last_snapshot_at:
            self.last_snapshot_at = taken_at
        if duplicate:
            logger.info("snapshot %s was already stored", item.snapshot_id)
        return True

    def _send_history(self, key: str, item: OutboxItem) -> bool:
        """Send one queued batch of daily history: the same failure classes as a snapshot."""
        assert self._veracity is not None
        try:
            answer = self._veracity.send_history(key, item.body)
        except RequestRejected as error:
            self._refused(item, error)
            return True
        except VeracityError as error:
            self._failed(error, key)
            return False
        self._outbox.remove(item.snapshot_id)
        self._succeeded()
        logger.info("daily history batch %s: %d day(s) stored, %d already present",
                    item.snapshot_id, answer.stored, answer.already_present)
        if self.on_history_delivered is not None:
            self.on_history_delivered(item)
        return True

    def _refused(self, item: OutboxItem, error: RequestRejected) -> None:
        # Sending it again would fail the same way; keeping it queued would block the rest.
        logger.error("Veracity refused snapshot %s (%s, HTTP %s): %s; kept aside with the "
                     "refusals", item.snapshot_id, error.code, error.status, error.message)
        self._outbox.refuse(item, error.status, error.code, error.message)
        self._counters.snapshots_refused += 1
        self.refusal = RefusalNotice(error.status, error.code, error.message, error.limit)
        self.down_message = ""  # Veracity answered

    def heartbeat(self, key: str, session: SessionCheck, *, gateway_port: int,
                  uptime_s: int, health: dict[str, Any] | None = None) -> None:
        """Tell Veracity we are alive and how the gateway is (and this computer's health
        summary, veracity_connector/health.py); adopt the schedule it answers."""
        assert self._veracity is not None
        body: dict[str, Any] = {
            "connector_version": connector_version(),
            "uptime_s": uptime_s,
            "last_snapshot_at": self.last_snapshot_at.isoformat()
            if self.last_snapshot_at else None,
            "gateway": {"state": session.state.value,
                        "message": session.message[:GATEWAY_MESSAGE_MAX_LENGTH],
                        "port": gateway_port},
        }
        if health is not None:
            body["health"] = health
        try:
            schedule = self._veracity.heartbeat(key, body)
        except VeracityError as error:
            self._failed(error, key)
            if not isinstance(error, VeracityRateLimited):
                self._timetable.next_heartbeat = self._clock() + \
                    self._timetable.heartbeat_interval()
            return
        self._counters.heartbeats_sent += 1
        was_down = bool(self.down_message)
        self._succeeded()
        self._timetable.adopt(schedule, self._clock())
        if was_down:
            self._timetable.next_delivery = self._clock()

    def _succeeded(self) -> None:
        self.down_message = ""
        self.limit_message = ""
        self._backoff_s = DELIVERY_BACKOFF_INITIAL_S
        self.last_sync_at = datetime.now(UTC)

    def _failed(self, error: VeracityError, key: str) -> None:
        now = self._clock()
        if isinstance(error, KeyRevoked):
            self._on_key_refused(key)
        elif isinstance(error, VeracityRateLimited):
            logger.warning("Veracity asks us to wait %.0f s%s", error.retry_after_s,
                           f" (limit {error.limit})" if error.limit else "")
            self._timetable.hold_off(now + error.retry_after_s)
            if error.limit:
                self.limit_message = (
                    f"Veracity's limit {limit_name(error.limit)} is reached ({error.message}); "
                    f"snapshots are kept and sent again in {error.retry_after_s:.0f} s")
        elif isinstance(error, VeracityUnavailable):
            if not self.down_message:
                logger.warning("Veracity unreachable: %s; snapshots are kept", error.message)
            self.down_message = error.message
            self._timetable.next_delivery = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2,
                                  max(self._timetable.snapshot_interval(), 60.0))
        else:
            logger.error("Veracity refused a request: %s", error.message)
