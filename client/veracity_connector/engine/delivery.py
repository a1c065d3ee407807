"""Delivery to Veracity: the outbox oldest first, heartbeats, and what each failure class means.

Connection errors and 5xx (after the client's few quick retries) → Veracity is down: snapshots
stay in the outbox and delivery backs off; 429 → wait as long as Veracity says; 401 → the key
was refused (the engine deletes it); any other refusal of a snapshot → that snapshot is dropped
(sending it again would fail the same way, and keeping it would block the rest).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from veracity_connector.engine.outcome import EngineCounters
from veracity_connector.engine.timetable import Timetable
from veracity_connector.gateway import SessionCheck
from veracity_connector.outbox import Outbox
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
GATEWAY_MESSAGE_MAX_LENGTH = 500


class Delivery:
    """Sends queued snapshots and heartbeats; keeps what the person should know about it."""

    def __init__(self, veracity: VeracityClient | None, outbox: Outbox, timetable: Timetable,
                 counters: EngineCounters, clock: Callable[[], float],
                 stop_event: threading.Event,
                 on_key_refused: Callable[[str], None]) -> None:
        self._veracity = veracity
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

    def send_outbox(self, key: str) -> bool:
        """Send queued snapshots oldest first; True if the outbox was emptied."""
        assert self._veracity is not None
        while not self._stop_event.is_set():
            batch = self._outbox.oldest(OUTBOX_BATCH)
            if not batch:
                self._backoff_s = DELIVERY_BACKOFF_INITIAL_S
                return True
            for item in batch:
                try:
                    duplicate = self._veracity.send_snapshot(key, item.body)
                except RequestRejected as error:
                    # Sending it again would fail the same way; keeping it would block the rest.
                    logger.error("Veracity rejected snapshot %s (%s: %s); dropped",
                                 item.snapshot_id, error.code or error.status, error.message)
                    self._outbox.remove(item.snapshot_id)
                    continue
                except VeracityError as error:
                    self._failed(error, key)
                    return False
                self._outbox.remove(item.snapshot_id)
                self._counters.snapshots_delivered += 1
                self._succeeded()
                taken_at = datetime.fromisoformat(item.taken_at)
                if self.last_snapshot_at is None or taken_at > self.last_snapshot_at:
                    self.last_snapshot_at = taken_at
                if duplicate:
                    logger.info("snapshot %s was already stored", item.snapshot_id)
        return False

    def heartbeat(self, key: str, session: SessionCheck, *, gateway_port: int,
                  uptime_s: int) -> None:
        """Tell Veracity we are alive and how the gateway is; adopt the schedule it answers."""
        assert self._veracity is not None
        body = {
            "connector_version": connector_version(),
            "uptime_s": uptime_s,
            "last_snapshot_at": self.last_snapshot_at.isoformat()
            if self.last_snapshot_at else None,
            "gateway": {"state": session.state.value,
                        "message": session.message[:GATEWAY_MESSAGE_MAX_LENGTH],
                        "port": gateway_port},
        }
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
        self._backoff_s = DELIVERY_BACKOFF_INITIAL_S
        self.last_sync_at = datetime.now(UTC)

    def _failed(self, error: VeracityError, key: str) -> None:
        now = self._clock()
        if isinstance(error, KeyRevoked):
            self._on_key_refused(key)
        elif isinstance(error, VeracityRateLimited):
            logger.warning("Veracity asks us to wait %.0f s", error.retry_after_s)
            self._timetable.hold_off(now + error.retry_after_s)
        elif isinstance(error, VeracityUnavailable):
            if not self.down_message:
                logger.warning("Veracity unreachable: %s; snapshots are kept", error.message)
            self.down_message = error.message
            self._timetable.next_delivery = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2,
                                  max(self._timetable.snapshot_interval(), 60.0))
        else:
            logger.error("Veracity refused a request: %s", error.message)
