"""One connector per data folder: an OS lock on `connector.lock`, and who holds it.

Whatever runs the engine loop (`ibkr-connector run`, the tray app) holds an OS lock (`filelock`:
`fcntl.flock` on Linux and macOS, `msvcrt.locking` on Windows) on `connector.lock` in the data
folder for as long as it runs. The OS drops the lock when the process ends in any way, SIGKILL
and crashes included, so a stale lock can never keep the connector from starting again. Two
engines on one folder would double the gateway traffic into IBKR's pacing limits and race each
other over the outbox.

Beside the lock, `connector.instance.json` says who holds it (pid, start time, command) for the
second instance's message and for `status`. That file can outlive its process; the lock is the
truth: a folder whose lock can be taken has no connector running, whatever the files say.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import filelock

logger = logging.getLogger(__name__)

LOCK_FILE = "connector.lock"
OWNER_FILE = "connector.instance.json"
# A second instance waits this long before giving up: `status` probes the lock by taking it for
# an instant, and a connector starting during that instant must not take it for a rival.
ACQUIRE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class InstanceOwner:
    """The process that holds (or last held) a data folder's connector lock."""

    pid: int
    started_at: str  # ISO 8601, UTC
    command: str  # "run" or "tray"

    def describe(self) -> str:
        """`pid N, started …` for messages."""
        started = self.started_at or "at an unknown time"
        return f"pid {self.pid}, started {started}" if self.pid else f"started {started}"


class ConnectorAlreadyRunning(RuntimeError):
    """Another process runs the connector on this data folder."""

    def __init__(self, data_dir: Path, owner: InstanceOwner | None) -> None:
        who = f" ({owner.describe()})" if owner else ""
        super().__init__(f"the connector is already running{who} on the data folder "
                         f"{data_dir}; stop it first, or use another data folder "
                         "(IBKR_CONNECTOR_HOME)")
        self.owner = owner


class InstanceLock:
    """Holds the data folder's connector lock while the engine runs."""

    def __init__(self, data_dir: Path, command: str) -> None:
        self.data_dir = data_dir
        self.command = command
        # preserve_lock_file: a pure OS lock. filelock's "soft" fallback would leave a marker
        # file behind after a SIGKILL that blocks every later start.
        self._lock = filelock.FileLock(data_dir / LOCK_FILE, preserve_lock_file=True)

    def acquire(self, timeout_s: float = ACQUIRE_TIMEOUT_S) -> InstanceOwner:
        """Take the lock and record this process as its owner; ConnectorAlreadyRunning if held."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=timeout_s)
        except filelock.Timeout:
            raise ConnectorAlreadyRunning(self.data_dir, read_owner(self.data_dir)) from None
        owner = InstanceOwner(os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"),
                              self.command)
        _write_owner(self.data_dir, owner)
        logger.debug("holding %s (%s)", self.data_dir / LOCK_FILE, owner.describe())
        return owner

    def release(self) -> None:
        """Give the lock back (the owner file goes first, so no reader sees a released owner)."""
        if not self._lock.is_locked:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / OWNER_FILE).unlink()
        self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def running_instance(data_dir: Path) -> InstanceOwner | None:
    """Who runs the connector on `data_dir` now, or None if nobody does (the lock is free)."""
    if not (data_dir / LOCK_FILE).exists():
        return None
    probe = filelock.FileLock(data_dir / LOCK_FILE, preserve_lock_file=True)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return read_owner(data_dir) or InstanceOwner(0, "", "")
    except OSError:
        return None  # an unreadable folder: nothing we can say runs there
    probe.release()
    return None


def read_owner(data_dir: Path) -> InstanceOwner | None:
    """The owner file's content (which may describe a process that has ended)."""
    try:
        data = json.loads((data_dir / OWNER_FILE).read_text(encoding="utf-8"))
        return InstanceOwner(int(data["pid"]), str(data["started_at"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_owner(data_dir: Path, owner: InstanceOwner) -> None:
    record = {"pid": owner.pid, "started_at": owner.started_at, "command": owner.command}
    try:
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".instance")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(temporary, data_dir / OWNER_FILE)
    except OSError as error:
        logger.warning("could not write %s: %s", data_dir / OWNER_FILE, error)
