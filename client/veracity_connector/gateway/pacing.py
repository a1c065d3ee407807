"""Keep every gateway request under IBKR's pacing limits, and back off after a 429.

IBKR's limits (ibkr-gateway.md "Pacing"): 10 requests/s in total; 1 per 5 s on
`/portfolio/accounts`, `/portfolio/subaccounts`, `/iserver/account/orders`,
`/iserver/account/trades`; 1/s on `/tickle`; 1/min on `/sso/validate`. Going over them puts the
caller in a penalty box for 10-15 minutes, so the pacer stays well inside them:

* requests are *reserved* in order under a lock (a slot = the earliest time that respects the
  global spacing, the endpoint's spacing and any back-off), then the caller waits for its slot;
* the gateway counts a request when it handles it, which can be well after we sent it (a new
  TLS connection, a busy machine): so the spacing also counts from each answer (`completed`),
  and every interval gets a safety margin;
* the per-endpoint reservations and the back-off are persisted (a small JSON file in the data
  folder) and re-read before each rate-limited call, so that several processes on the machine
  (the tray, `sync --once`, `doctor`) do not add up to a 429 on those endpoints (the global
  10/s is kept per process only: each process stays at 8/s and these calls are short bursts);
  each read-reserve-write runs under a file lock (`pacing.json.lock`, `filelock`), so two
  processes never both take the same slot;
* times are kept on the monotonic clock, so a wall-clock jump neither stalls nor bunches the
  requests; the file holds wall-clock times (processes do not share a monotonic origin
  everywhere) and when it was written, so a wall clock set back after the writing moves the
  saved times back with it instead of stalling the gateway for hours;
* after a 429 nothing is sent for a back-off period that doubles up to a cap, and resets after
  a request succeeds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock

logger = logging.getLogger(__name__)

GLOBAL_LIMIT_PER_S = 10
STATE_LOCK_TIMEOUT_S = 5.0  # another process holds the file this long only if it hangs


@dataclass(frozen=True)
class EndpointLimit:
    """At most one request per `interval_s` on the paths matching `pattern`."""

    name: str
    pattern: re.Pattern[str]
    interval_s: float


IBKR_ENDPOINT_LIMITS: tuple[EndpointLimit, ...] = (
    EndpointLimit("/portfolio/accounts", re.compile(r"^/portfolio/accounts/?$"), 5.0),
    EndpointLimit("/portfolio/subaccounts", re.compile(r"^/portfolio/subaccounts/?$"), 5.0),
    EndpointLimit("/iserver/account/orders", re.compile(r"^/iserver/account/orders/?$"), 5.0),
    EndpointLimit("/iserver/account/trades", re.compile(r"^/iserver/account/trades/?$"), 5.0),
    EndpointLimit("/tickle", re.compile(r"^/tickle/?$"), 1.0),
    EndpointLimit("/sso/validate", re.compile(r"^/sso/validate/?$"), 60.0),
)


class PacerStopped(Exception):
    """The wait for a request slot was interrupted because the connector is stopping."""


class Pacer:
    """Hands out request slots that respect IBKR's global and per-endpoint limits."""

    def __init__(self, *, state_path: Path | None = None,
                 limits: tuple[EndpointLimit, ...] = IBKR_ENDPOINT_LIMITS,
                 global_per_s: float = GLOBAL_LIMIT_PER_S * 0.8,
                 margin_factor: float = 1.1, margin_s: float = 0.3,
                 backoff_initial_s: float = 60.0, backoff_max_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] | None = None,
                 stop_event: threading.Event | None = None) -> None:
        """`clock` paces (monotonic); `wall_clock` dates the shared file (default: `time.time`
        with the default clock, else `clock` itself, so a test's one fake clock moves both)."""
        self._lock = threading.Lock()
        self._state_path = state_path
        self._file_lock = filelock.FileLock(
            state_path.with_name(state_path.name + ".lock"), timeout=STATE_LOCK_TIMEOUT_S,
            preserve_lock_file=True) if state_path is not None else None
        self._limits = limits
        self._global_spacing_s = 1.0 / global_per_s
        self._margin_factor = margin_factor
        self._margin_s = margin_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._wall_clock = wall_clock or (time.time if clock is time.monotonic else clock)
        self._stop_event = stop_event or threading.Event()
        self._next_global = 0.0
        self._next_by_endpoint: dict[str, float] = {}
        self._blocked_until = 0.0
        self._next_backoff_s = backoff_initial_s
        self._load()

    def limit_for(self, path: str) -> EndpointLimit | None:
        """The per-endpoint limit that applies to `path` (relative to /v1/api), if any."""
        for limit in self._limits:
            if limit.pattern.match(path):
                return limit
        return None

    def spacing_for(self, limit: EndpointLimit) -> float:
        """The spacing the pacer keeps on an endpoint: IBKR's interval plus a safety margin."""
        return limit.interval_s * self._margin_factor + self._margin_s

    def reserve(self, path: str) -> float:
        """Reserve the next slot for `path`; return the clock time at which it may be sent."""
        limit = self.limit_for(path)
        with self._lock, self._shared_file(limit is not None):
            if limit is not None:
                # Another process (the tray, `sync --once`, `doctor`) may have used it meanwhile.
                self._merge_saved_locked()
            now = self._clock()
            slot = max(now, self._next_global, self._blocked_until)
            if limit is not None:
                slot = max(slot, self._next_by_endpoint.get(limit.name, float("-inf")))
                self._next_by_endpoint[limit.name] = slot + self.spacing_for(limit)
            self._next_global = slot + self._global_spacing_s
            if limit is not None:
                self._save_locked()
            return slot

    def acquire(self, path: str) -> None:
        """Block until a request to `path` may be sent (raises PacerStopped on stop)."""
        slot = self.reserve(path)
        while True:
            delay = slot - self._clock()
            if delay <= 0:
                return
            if self._stop_event.wait(delay):
                raise PacerStopped("the connector is stopping")
            # A 429 elsewhere may have pushed the back-off past our slot while we waited.
            with self._lock:
                slot = max(slot, self._blocked_until)

    def completed(self, path: str) -> None:
        """Record that a request to `path` got its answer: the spacing counts from here.

        The gateway counts a request when it handles it, somewhere between our sending and its
        answer. A slow first request (a new TLS connection, a busy machine) would otherwise be
        counted late and the next one, sent on schedule, too soon after it. Counting from the
        answer keeps the spacing at the gateway whatever the latency.
        """
        limit = self.limit_for(path)
        with self._lock, self._shared_file(limit is not None):
            if limit is not None:
                self._merge_saved_locked()
            now = self._clock()
            self._next_global = max(self._next_global, now + self._global_spacing_s)
            if limit is not None:
                self._next_by_endpoint[limit.name] = max(
                    self._next_by_endpoint.get(limit.name, float("-inf")),
                    now + self.spacing_for(limit))
                self._save_locked()

    def seconds_until_free(self) -> float:
        """How long any request would have to wait for the back-off to end (0 if none)."""
        with self._lock:
            return max(0.0, self._blocked_until - self._clock())

    def rate_limited(self, retry_after_s: float | None = None) -> float:
        """Record a 429: block every request for the back-off period; returns its length."""
        with self._lock, self._shared_file(True):
            self._merge_saved_locked()
            backoff = max(self._next_backoff_s, retry_after_s or 0.0)
            self._blocked_until = max(self._blocked_until, self._clock() + backoff)
            self._next_backoff_s = min(self._next_backoff_s * 2, self._backoff_max_s)
            self._save_locked()
        logger.warning("the gateway refused a request with 429 (pacing); no requests for %.0f s",
                       backoff)
        return backoff

    def succeeded(self) -> None:
        """Record an accepted request: the next 429 starts the back-off from the beginning."""
        with self._lock:
            self._next_backoff_s = self._backoff_initial_s

    # --- persistence: best effort, a broken file only costs one conservative wait -------------

    @contextlib.contextmanager
    def _shared_file(self, needed: bool) -> Iterator[None]:
        """Hold the state file's lock (between processes) for one read-change-write."""
        if not needed or self._file_lock is None:
            yield
            return
        try:
            self._file_lock.acquire()
        except (filelock.Timeout, OSError) as error:
            # Pacing must not stop because another process hangs on the file: go on with
            # what this process knows (its own spacing still holds).
            logger.warning("the pacing file's lock is unavailable (%s); pacing by this "
                           "process's own reservations", error)
            yield
            return
        try:
            yield
        finally:
            self._file_lock.release()


    def _load(self) -> None:
        if self._state_path is None or not self._state_path.exists():
            return
        saved = self._read_saved()
        if saved is not None:
            self._next_by_endpoint, self._blocked_until = saved
        else:
            logger.warning("ignoring an unreadable pacing file %s", self._state_path)
            # We do not know when the last calls were: wait one full interval on each endpoint.
            now = self._clock()
            self._next_by_endpoint = {limit.name: now + self.spacing_for(limit)
                                      for limit in self._limits}

    def _merge_saved_locked(self) -> None:
        saved = self._read_saved()
        if saved is None:
            return
        next_by_endpoint, blocked_until = saved
        for name, moment in next_by_endpoint.items():
            self._next_by_endpoint[name] = max(self._next_by_endpoint.get(name, 0.0), moment)
        self._blocked_until = max(self._blocked_until, blocked_until)

    def _read_saved(self) -> tuple[dict[str, float], float] | None:
        if self._state_path is None:
            return None
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
            saved_next = {str(k): float(v) for k, v in data["next"].items()}
            saved_blocked = float(data.get("blocked_until", 0.0))
            written_at = float(data.get("written_at", 0.0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        # Wall-clock times to this process's clock. A file written "in the future" was written
        # before the wall clock was set back: its times move back with it. Nothing waits longer
        # than the longest back-off, whatever the file says.
        now, wall = self._clock(), self._wall_clock()
        shift = (now - wall) + min(0.0, wall - written_at)
        latest = now + self._backoff_max_s
        next_by_endpoint = {name: min(moment + shift, latest)
                            for name, moment in saved_next.items()}
        return next_by_endpoint, min(saved_blocked + shift, latest)

    def _save_locked(self) -> None:
        if self._state_path is None:
            return
        wall = self._wall_clock()
        offset = wall - self._clock()
        data = {"next": {name: moment + offset for name, moment in self._next_by_endpoint.items()},
                "blocked_until": self._blocked_until + offset, "written_at": wall}
        try:
            self._state_path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._state_path.parent, prefix=".pacing")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file)
            os.replace(temporary, self._state_path)
        except OSError as error:
            logger.warning("could not save the pacing file %s: %s", self._state_path, error)
