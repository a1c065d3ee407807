"""Snapshot collection: read every account from the gateway, queue the snapshot if it changed.

An unchanged portfolio is not queued again (the heartbeat says we are alive), except that a
full snapshot goes out at least every `full_snapshot_interval_s`, and always when forced
(`sync_now`, `sync --once`).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from veracity_connector.engine.outcome import EngineCounters
from veracity_connector.gateway import GatewayClient, SessionCheck
from veracity_connector.gateway.errors import GatewayError
from veracity_connector.outbox import Outbox
from veracity_connector.settings import Settings
from veracity_connector.snapshot import Snapshot, take_snapshot
from veracity_connector.state import GatewayState
from veracity_connector.veracity_api import json_dumps

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collected:
    """Whether a snapshot was queued, and the gateway's state if reading it failed."""

    queued: bool
    gateway_problem: SessionCheck | None = None


class SnapshotCollector:
    """Takes snapshots from the gateway and queues the changed ones in the outbox."""

    def __init__(self, gateway: GatewayClient, outbox: Outbox, settings: Settings,
                 counters: EngineCounters, clock: Callable[[], float]) -> None:
        self._gateway = gateway
        self._outbox = outbox
        self._settings = settings
        self._counters = counters
        self._clock = clock
        self._last_fingerprint: str | None = None
        self._last_full_queued_at = float("-inf")
        self.account_ids: list[str] = []  # the accounts the last snapshot read (history asks)

    def forget(self) -> None:
        """Queue the next snapshot even if unchanged (a new pairing, a refused key)."""
        self._last_fingerprint = None

    def collect(self, *, force: bool) -> Collected:
        """Read the gateway; queue the snapshot if it changed (or is due anyway)."""
        started = time.monotonic()
        try:
            snapshot = take_snapshot(self._gateway)
        except GatewayError as error:
            logger.warning("snapshot failed: %s", error.message)
            return Collected(False, SessionCheck(error.gateway_state, error.message))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # An answer shaped unlike the gateway's: report it as a gateway error each cycle
            # instead of failing the loop. The message may quote IBKR data, so only the type
            # and where it happened are logged.
            logger.warning("snapshot failed: the gateway sent an answer the connector cannot "
                           "read (%s)\n%s", type(error).__name__,
                           "".join(traceback.format_tb(error.__traceback__)))
            return Collected(False, SessionCheck(
                GatewayState.ERROR, "The gateway sent an answer the connector cannot read."))
        self._counters.snapshots_taken += 1
        self.account_ids = [str(account["account_id"]) for account in snapshot.accounts]
        self._counters.last_snapshot_read_s = time.monotonic() - started
        fingerprint = snapshot.fingerprint()
        full_due = self._clock() - self._last_full_queued_at >= \
            self._settings.full_snapshot_interval_s
        if fingerprint == self._last_fingerprint and not force and not full_due:
            logger.debug("portfolio unchanged: no snapshot queued")
            return Collected(False)
        self._queue(snapshot)
        self._counters.snapshots_queued += 1
        self._last_fingerprint = fingerprint
        self._last_full_queued_at = self._clock()
        logger.info("snapshot %s queued: %d account(s), %d position(s), read in %.1f s",
                    snapshot.snapshot_id, len(snapshot.accounts), snapshot.position_count(),
                    self._counters.last_snapshot_read_s)
        return Collected(True)

    def _queue(self, snapshot: Snapshot) -> None:
        self._outbox.put(snapshot.snapshot_id, snapshot.taken_at.isoformat(),
                         json_dumps(snapshot.payload()))
