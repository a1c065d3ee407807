"""Limits per connector and per user: what one key may send, and what one user may keep.

Every limit is a setting (VERACITY_LIMIT_*) and is advertised to connectors in the heartbeat's
answer beside the intervals, so a connector can stay inside them. Past one, the answer says
which: 413 `limit_exceeded` for a snapshot too big to store (sending it again cannot help), 429
`limit_exceeded` with `Retry-After` for a rate or the storage (later may work), each with a
`Veracity-Limit` header naming the limit and a message a person can act on. Nothing is dropped
silently: a refused snapshot stays in the connector's outbox or is reported as refused.

Rates are counted per connector in fixed one-minute windows: in Redis when `REDIS_URL` is set
(shared by every worker and instance, through the `limits` library), else in a small counter of
this process (limits' memory storage starts a timer thread to expire its keys, which cost more
than the rest of a heartbeat; here an expired window is simply started again).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from veracity_contract.connector import ConnectorLimits
from veracity_server.errors import ApiError
from veracity_server.ingest.snapshot_facts import SnapshotFacts
from veracity_server.settings import Settings

EXTENSION_KEY = "veracity_connector_quotas"
log = logging.getLogger(__name__)
LIMIT_HEADER = "Veracity-Limit"


class LimitExceeded(ApiError):
    """A connector went past one of its limits; the `Veracity-Limit` header names it."""

    code = "limit_exceeded"

    def __init__(self, status: int, limit: str, message: str,
                 retry_after_s: int | None = None) -> None:
        headers = {LIMIT_HEADER: limit}
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(1, retry_after_s))
        super().__init__(message, status=status, headers=headers)
        self.limit = limit


class ProcessWindows:
    """Fixed one-minute windows counted in this process: (key) → (window start, hits)."""

    WINDOW_S = 60.0
    # Forget windows that ended once there are this many keys (bounded memory).
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, kind: str, key: str, allowed: int) -> float | None:
        """Count one hit; None when allowed, else the seconds until the window ends."""
        now = time.monotonic()
        with self._lock:
            start, hits = self._windows.get((kind, key), (now, 0))
            if now - start >= self.WINDOW_S:
                start, hits = now, 0
            if hits >= allowed:
                return start + self.WINDOW_S - now
            if len(self._windows) >= self.MAX_KEYS:
                self._windows = {name: window for name, window in self._windows.items()
                                 if now - window[0] < self.WINDOW_S}
            self._windows[(kind, key)] = (start, hits + 1)
            return None


@dataclass(frozen=True)
class Quotas:
    """The limits of one app and the counters behind its rates."""

    limits: ConnectorLimits
    advertised: dict[str, int]  # the limits as the heartbeat's answer carries them
    retry_after_storage_s: int
    strategy: FixedWindowRateLimiter | None  # None: counted in this process
    process_windows: ProcessWindows
    snapshots: Any
    heartbeats: Any

    def count_heartbeat(self, connector: str) -> None:
        """Count a heartbeat of `connector` (its key's hash); 429 past the limit."""
        self._count(self.heartbeats, "heartbeat", connector, "heartbeats_per_minute",
                    f"more than {self.limits.heartbeats_per_minute} heartbeats a minute")

    def count_snapshot(self, connector: str) -> None:
        """Count a snapshot of `connector` (its key's hash); 429 past the limit."""
        self._count(self.snapshots, "snapshot", connector, "snapshots_per_minute",
                    f"more than {self.limits.snapshots_per_minute} snapshots a minute")

    def _count(self, item: Any, kind: str, connector: str, limit: str, what: str) -> None:
        if self.strategy is None:
            wait_s = self.process_windows.hit(kind, connector, item.amount)
        else:
            wait_s = self._count_shared(item, kind, connector)
        if wait_s is None:
            return
        raise LimitExceeded(429, limit, f"Limit reached: {what} from this connector. "
                                        f"Nothing was stored; send it again later.",
                            retry_after_s=math.ceil(wait_s))

    def _count_shared(self, item: Any, kind: str, connector: str) -> float | None:
        assert self.strategy is not None
        try:
            if self.strategy.hit(item, kind, connector):
                return None
            return self.strategy.get_window_stats(item, kind, connector).reset_time - time.time()
        except Exception:
            # A broken Redis must not stop ingest.
            log.warning("connector rate limits are not counted: their storage failed")
            return None

    def check_body_size(self, content_length: int | None) -> None:
        """413 before the body is read when it is larger than a snapshot may be (above the
        server's own VERACITY_MAX_CONTENT_LENGTH, reading it answers 413 payload_too_large)."""
        if content_length is not None and (
                self.limits.snapshot_bytes < content_length
                <= (current_app.config.get("MAX_CONTENT_LENGTH") or content_length)):
            raise LimitExceeded(413, "snapshot_bytes",
                                f"Limit reached: a snapshot may be at most "
                                f"{self.limits.snapshot_bytes} bytes; this one has "
                                f"{content_length}.")

    def check_snapshot_shape(self, snapshot: SnapshotFacts) -> None:
        """413 for too many positions or stop orders."""
        positions = snapshot.positions
        if positions > self.limits.positions_per_snapshot:
            raise LimitExceeded(413, "positions_per_snapshot",
                                f"Limit reached: at most {self.limits.positions_per_snapshot} "
                                f"positions per snapshot; this one has {positions}.")
        orders = snapshot.stop_orders
        if orders > self.limits.stop_orders_per_snapshot:
            raise LimitExceeded(413, "stop_orders_per_snapshot",
                                f"Limit reached: at most "
                                f"{self.limits.stop_orders_per_snapshot} stop orders per "
                                f"snapshot; this one has {orders}.")

    def check_storage(self, stored_bytes: int) -> None:
        """429 when the user's storage is full (`stored_bytes` or more)."""
        if stored_bytes >= self.limits.storage_bytes_per_user:
            raise LimitExceeded(429, "storage_bytes_per_user",
                                f"Limit reached: this account stores "
                                f"{self.limits.storage_bytes_per_user} bytes of snapshots; "
                                f"older ones are thinned out over time, or delete a connector "
                                f"you no longer use.",
                                retry_after_s=self.retry_after_storage_s)


def connector_limits(settings: Settings) -> ConnectorLimits:
    """The limits `settings` set, as the heartbeat's answer advertises them."""
    return ConnectorLimits(
        positions_per_snapshot=settings.limit_positions_per_snapshot,
        stop_orders_per_snapshot=settings.limit_stop_orders_per_snapshot,
        snapshot_bytes=settings.limit_snapshot_bytes,
        snapshots_per_minute=settings.limit_snapshots_per_minute,
        heartbeats_per_minute=settings.limit_heartbeats_per_minute,
        storage_bytes_per_user=settings.limit_storage_bytes_per_user,
        history_days_per_request=settings.limit_history_days_per_request,
        history_positions_per_request=settings.limit_history_positions_per_request,
        history_request_bytes=settings.limit_history_request_bytes)


def init_quotas(app: Flask, settings: Settings) -> Quotas:
    """The app's quotas, counting in Redis when `REDIS_URL` is set, else in this process."""
    limits = connector_limits(settings)
    quotas = Quotas(limits=limits, advertised=limits.model_dump(),
                    retry_after_storage_s=settings.retention_interval_s,
                    strategy=FixedWindowRateLimiter(storage_from_string(settings.redis_url))
                    if settings.redis_url else None,
                    process_windows=ProcessWindows(),
                    snapshots=RateLimitItemPerMinute(limits.snapshots_per_minute),
                    heartbeats=RateLimitItemPerMinute(limits.heartbeats_per_minute))
    app.extensions[EXTENSION_KEY] = quotas
    return quotas


def quotas() -> Quotas:
    """The current app's quotas."""
    found: Quotas = current_app.extensions[EXTENSION_KEY]
    return found
