"""The running engine's status, shared with other processes (`ibkr-connector status`).

The engine rewrites `status.json` in the data folder on every change and at least every
`REFRESH_S` seconds, so a reader can tell a live engine (fresh file) from one that stopped or
crashed (stale file) without platform-specific process checks. Written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veracity_connector.state import ConnectorStatus

logger = logging.getLogger(__name__)

STATUS_FILE_NAME = "status.json"
REFRESH_S = 10.0
STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class RecordedStatus:
    """What a reader finds in the status file."""

    status: dict[str, Any]
    pid: int
    age_s: float
    marked_stopped: bool = False  # the engine ended cleanly and said so

    @property
    def engine_running(self) -> bool:
        """True if the engine refreshed the file recently."""
        return not self.marked_stopped and self.age_s < STALE_AFTER_S


class StatusFile:
    """Writes the engine's status for other processes."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATUS_FILE_NAME
        self._lock = threading.Lock()
        self._written_at = 0.0

    def write(self, status: ConnectorStatus) -> None:
        """Write `status` now (atomic replace)."""
        record = {"pid": os.getpid(), "written_at": time.time(), "status": status.as_dict()}
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".status")
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    json.dump(record, file, indent=2)
                os.replace(temporary, self.path)
                self._written_at = time.monotonic()
            except OSError as error:
                logger.warning("could not write %s: %s", self.path, error)

    def touch(self, status: ConnectorStatus) -> None:
        """Rewrite the file if it was not written for a while (shows the engine is alive)."""
        if time.monotonic() - self._written_at >= REFRESH_S:
            self.write(status)

    def mark_stopped(self, status: ConnectorStatus) -> None:
        """Record that the engine stopped (readers then treat the status as not running)."""
        record = {"pid": os.getpid(), "written_at": 0, "status": status.as_dict()}
        with self._lock:
            try:
                self.path.write_text(json.dumps(record, indent=2), encoding="utf-8")
            except OSError as error:
                logger.warning("could not write %s: %s", self.path, error)


def read_status(data_dir: Path) -> RecordedStatus | None:
    """The last status an engine wrote, or None if there is none (or it is unreadable)."""
    path = data_dir / STATUS_FILE_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        written_at = float(record["written_at"])
        return RecordedStatus(status=dict(record["status"]), pid=int(record["pid"]),
                              age_s=max(0.0, time.time() - written_at),
                              marked_stopped=written_at == 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
