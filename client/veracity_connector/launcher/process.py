"""Starting, watching and stopping the person's IBKR gateway from its folder.

The gateway is started the way IBKR documents it: from the gateway folder as the working
directory, `bin/run.sh root/conf.yaml` (Windows: `bin\\run.bat root\\conf.yaml`), with no console
window on Windows and its output appended to a log file. Before starting we look at who holds
the port from conf.yaml: a gateway already running is used as it is; anything else is reported
as `PortTakenError`, and `move_to_free_port()` rewrites listenPort so both move together.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from veracity_connector.launcher.conf_file import (
    ListenSettings,
    read_listen_settings,
    set_listen_port,
)
from veracity_connector.launcher.java import JAVA_HINT, find_java
from veracity_connector.launcher.ports import PortOccupant, find_free_port, identify_port_occupant
from veracity_connector.platform import PlatformServices
from veracity_connector.platform.base import ProcessTreeStopError

logger = logging.getLogger(__name__)

CONF_RELATIVE = Path("root") / "conf.yaml"


class LaunchError(RuntimeError):
    """The gateway could not be started; the message says why and what to do."""


class GatewayStopError(RuntimeError):
    """Some of the gateway's processes are still running after a stop; the message names them."""


class PortTakenError(LaunchError):
    """Another program (not a gateway) listens on the gateway's port."""

    def __init__(self, port: int) -> None:
        super().__init__(f"Port {port} is used by another program, so the gateway cannot "
                         "start there. Move the gateway to a free port?")
        self.port = port


@dataclass(frozen=True)
class LaunchResult:
    """What `start()` did: started our process, or found a gateway already listening."""

    started: bool
    listen: ListenSettings
    warnings: tuple[str, ...] = field(default_factory=tuple)


class GatewayLauncher:
    """Runs one gateway folder's run script as a child process the tray can stop again."""

    def __init__(self, folder: Path, log_path: Path, platform: PlatformServices,
                 on_port_moved: Callable[[ListenSettings], None] | None = None) -> None:
        self.folder = folder
        self.log_path = log_path
        self._platform = platform
        self._on_port_moved = on_port_moved
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_stream: IO[bytes] | None = None

    @property
    def conf_path(self) -> Path:
        """The gateway's root/conf.yaml."""
        return self.folder / CONF_RELATIVE

    def listen_settings(self) -> ListenSettings:
        """Port and TLS from conf.yaml, read fresh (the person may have edited it)."""
        return read_listen_settings(self.conf_path)

    def is_running(self) -> bool:
        """True while the gateway process we started is alive."""
        with self._lock:
            return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the run script we started, if it runs."""
        with self._lock:
            return self._process.pid if self._process and self._process.poll() is None else None

    def port_occupant(self) -> PortOccupant:
        """Who is on the configured port right now."""
        listen = self.listen_settings()
        return identify_port_occupant(listen.port, use_tls=listen.ssl)

    def start(self) -> LaunchResult:
        """Start the gateway unless it runs; PortTakenError when another program has the port."""
        listen = self.listen_settings()
        if self.is_running():
            return LaunchResult(started=False, listen=listen)
        occupant = identify_port_occupant(listen.port, use_tls=listen.ssl)
        if occupant is PortOccupant.GATEWAY:
            logger.info("a gateway already answers on port %s; using it", listen.port)
            return LaunchResult(started=False, listen=listen)
        if occupant is PortOccupant.OTHER:
            raise PortTakenError(listen.port)
        warnings = () if find_java() else (JAVA_HINT,)
        command = self._run_command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            log_stream = open(self.log_path, "ab")  # noqa: SIM115 (kept open while it runs)
            log_stream.write(f"\n=== {datetime.now(UTC).isoformat(timespec='seconds')} "
                             f"starting {' '.join(command)} in {self.folder} ===\n".encode())
            log_stream.flush()
            try:
                self._process = subprocess.Popen(
                    command, cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log_stream,
                    stderr=subprocess.STDOUT, **self._platform.background_process_options())
            except OSError as error:
                log_stream.close()
                raise LaunchError(f"Could not run {command[0]}: {error}. "
                                  f"{JAVA_HINT if warnings else ''}".strip()) from None
            self._log_stream = log_stream
        logger.info("gateway started (pid %s) on port %s", self._process.pid, listen.port)
        return LaunchResult(started=True, listen=listen, warnings=warnings)

    def _run_command(self) -> list[str]:
        command = self._platform.gateway_run_script(self.folder)
        script = self.folder / command[0] if not Path(command[0]).is_absolute() else Path(
            command[0])
        if not script.is_file():
            raise LaunchError(f"{script} is missing: choose the folder you unzipped IBKR's "
                              "Client Portal Gateway into (it has bin/ and root/).")
        if sys.platform != "win32" and not os.access(script, os.X_OK):
            # A zip extracted without permissions leaves run.sh not executable; IBKR's script
            # is written for bash.
            return [shutil.which("bash") or "sh", *command]
        return command

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the gateway and every process it started (run script and java).

        GatewayStopError when a process of the tree survives: the launcher keeps it, so
        another `stop()` tries again, and nothing says "stopped" while java still runs."""
        with self._lock:
            process, self._process = self._process, None
            log_stream, self._log_stream = self._log_stream, None
        try:
            if process is not None:
                try:
                    self._platform.stop_process_tree(process, timeout_s)
                except ProcessTreeStopError as error:
                    with self._lock:
                        self._process = self._process or process
                    logger.error("the gateway (pid %s) did not stop: %s", process.pid, error)
                    raise GatewayStopError(
                        f"The gateway did not stop: {error}. End those processes in Task "
                        "Manager (or your system's process list), then try again.") from None
                logger.info("gateway stopped (pid %s, exit %s)", process.pid, process.returncode)
        finally:
            if log_stream is not None:
                log_stream.close()

    def restart(self) -> LaunchResult:
        """Stop (if ours runs) and start again, e.g. after listenPort changed."""
        self.stop()
        return self.start()

    def move_to_free_port(self) -> ListenSettings:
        """Rewrite listenPort to a free port (nothing else in conf.yaml changes); tell settings."""
        old = self.listen_settings()
        new_port = find_free_port(avoid={old.port})
        set_listen_port(self.conf_path, new_port)
        moved = self.listen_settings()
        logger.info("gateway moved from port %s to free port %s", old.port, moved.port)
        if self._on_port_moved is not None:
            self._on_port_moved(moved)
        return moved

    def exited_within(self, seconds: float) -> int | None:
        """Wait up to `seconds` for the gateway to exit by itself: its exit code, or None."""
        with self._lock:
            process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def exit_code(self) -> int | None:
        """The run script's exit code once it ended by itself (None while running or unknown)."""
        with self._lock:
            return self._process.poll() if self._process else None

    def log_tail(self, characters: int = 2000) -> str:
        """The end of the gateway's log (to show when it stopped by itself)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-characters:]
        except FileNotFoundError:
            return ""
