"""IBKR's Flex rate limit across every Flex call on this machine: ≥ 1 s apart, ≤ 10 a minute.

Both steps (SendRequest and every GetStatement poll) count against the per-token limit, and
several processes may use the token (the engine, `flex set`'s check, `doctor`), so the times of
recent calls are kept in a small JSON file in the data folder under a file lock: a call waits
for its slot (the wait ends at once when the connector stops). Wall-clock times, since the file
is shared between processes; a clock set back is treated as "long ago".
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import filelock

MIN_SPACING_S = 1.2  # IBKR: 1 request per second; a margin for the service's own clock
PER_MINUTE = 9  # IBKR: 10 per minute; one kept back
WINDOW_S = 61.0
PACING_FILE = "flex-pacing.json"


class FlexPacingStopped(Exception):
    """The wait for a Flex request slot ended because the connector is stopping."""


class FlexPacer:
    """Hands out Flex request slots under IBKR's per-token limits, shared through a file."""

    def __init__(self, data_dir: Path | None, *, clock: Callable[[], float] = time.time,
                 stop_event: threading.Event | None = None) -> None:
        self._path = data_dir / PACING_FILE if data_dir is not None else None
        self._lock = filelock.FileLock(str(self._path) + ".lock", timeout=10,
                                       preserve_lock_file=True) if self._path else None
        self._clock = clock
        self._stop_event = stop_event or threading.Event()
        self._memory: list[float] = []
        self.requests = 0  # requests this pacer let through (benchmarks, tests)

    def acquire(self) -> None:
        """Wait for a slot and take it."""
        while True:
            wait = self._try_take()
            if wait <= 0:
                self.requests += 1
                return
            if self._stop_event.wait(wait):
                raise FlexPacingStopped("stopped while waiting for a Flex request slot")

    def _try_take(self) -> float:
        if self._lock is None:
            return self._take_from(self._memory)
        with self._lock:
            times = self._read()
            wait = self._take_from(times)
            if wait <= 0:
                self._write(times)
            return wait

    def _take_from(self, times: list[float]) -> float:
        now = self._clock()
        times[:] = [moment for moment in times if now - WINDOW_S < moment <= now]
        wait = 0.0
        if times:
            wait = max(wait, times[-1] + MIN_SPACING_S - now)
        if len(times) >= PER_MINUTE:
            wait = max(wait, times[-PER_MINUTE] + WINDOW_S - now)
        if wait <= 0:
            times.append(now)
        return wait

    def _read(self) -> list[float]:
        assert self._path is not None
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return sorted(float(value) for value in raw if isinstance(value, int | float)) \
            if isinstance(raw, list) else []

    def _write(self, times: list[float]) -> None:
        assert self._path is not None
        temporary = self._path.with_name(self._path.name + ".tmp")
        temporary.write_text(json.dumps(times), encoding="utf-8")
        os.replace(temporary, self._path)
