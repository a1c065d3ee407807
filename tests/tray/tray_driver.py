"""Running the real tray app (`python -m veracity_connector`) on the test X server, watching it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

from tests.support.processes import stop_process
from tests.support.waiting import WaitTimedOut, wait_until
from tests.tray.x_server import ARTEFACTS, XServer, tray_area
from veracity_connector.state import ConnectorState
from veracity_connector.status_file import read_status
from veracity_connector.tray.app import ICON_SIZE
from veracity_connector.tray.icons import icon_for_state
from veracity_connector.tray.presentation import state_label

REPO_ROOT = Path(__file__).resolve().parents[2]
# pystray's X window class for our icon ('<name>SystemTrayIcon').
ICON_WINDOW_CLASS = "VeracityIBKRConnectorSystemTrayIcon"


@dataclass(frozen=True)
class Geometry:
    """Where a window is on the screen."""

    x: int
    y: int
    width: int
    height: int


def window_geometry(server: XServer, window_id: str) -> Geometry:
    """The window's absolute position and size (xdotool)."""
    values = dict(line.split("=", 1) for line in server.run(
        "xdotool", "getwindowgeometry", "--shell", window_id).split())
    return Geometry(int(values["X"]), int(values["Y"]), int(values["WIDTH"]),
                    int(values["HEIGHT"]))


def expected_docked_icon(state: ConnectorState, width: int, height: int) -> Image.Image:
    """What pystray's xorg backend paints for our image in a window of this size."""
    painted = Image.new("RGB", (width, height))
    painted.paste(icon_for_state(state, ICON_SIZE).resize((width, height),
                                                          Image.Resampling.LANCZOS))
    return painted


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per channel value (0 = identical, 255 = opposite)."""
    if second.size != first.size:  # trayer may give the icon another size after a re-dock
        second = second.resize(first.size, Image.Resampling.LANCZOS)
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3


@dataclass
class DockedCapture:
    """One state as the person sees it: the docked icon and its window name (the tooltip)."""

    state: ConnectorState
    icon: Image.Image
    tooltip: str
    screenshot: Path


class TrayAppProcess:
    """The tray app as a subprocess on the test display."""

    def __init__(self, server: XServer, home: Path, env: dict[str, str]) -> None:
        self.server = server
        self.home = home
        # PYTHONFAULTHANDLER: a hung app dumps every thread's stack on SIGABRT (see stop()).
        self.env = {**server.env(), "PYSTRAY_BACKEND": "xorg", "IBKR_CONNECTOR_HOME": str(home),
                    "IBKR_CONNECTOR_KEY_STORE": "file", "PYTHONFAULTHANDLER": "1", **env}
        for name in ("IBKR_CONNECTOR_CONFIG_DIR", "IBKR_CONNECTOR_DATA_DIR",
                     "IBKR_CONNECTOR_LOG_DIR", "VERACITY_CONNECTOR_KEY"):
            self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """The app's own log (a windowed app has no console)."""
        return self.home / "logs" / "connector.log"

    def start(self) -> subprocess.Popen[bytes]:
        """Launch `python -m veracity_connector` (the tray: no command)."""
        output = open(self.home / "stdout-stderr.txt", "ab")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "veracity_connector"], env=self.env,
                                   cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        output.close()
        if self.process is None:
            self.process = process
        return process

    def cli(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run an `ibkr-connector` command with the same settings (another process)."""
        return subprocess.run([sys.executable, "-m", "veracity_connector", *arguments],
                              env=self.env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                              check=False)

    def state(self) -> str | None:
        """The engine's state from its status file."""
        recorded = read_status(self.home / "data")
        return str(recorded.status["state"]) if recorded else None

    def diagnostics(self) -> str:
        """Log tails for a failure message."""
        parts = []
        for path in (self.log_path, self.home / "stdout-stderr.txt"):
            with contextlib.suppress(FileNotFoundError):
                parts.append(f"--- {path.name} ---\n{path.read_text()[-3000:]}")
        return "\n".join(parts)

    def icon_window(self) -> str | None:
        """The docked icon's X window id, once pystray created it (xdotool exits 1 if none)."""
        result = subprocess.run(["xdotool", "search", "--classname", ICON_WINDOW_CLASS],
                                env=self.server.env(), capture_output=True, text=True,
                                timeout=10, check=False)
        ids = result.stdout.split()
        return ids[0] if ids else None

    def wait_for_docked_state(self, state: ConnectorState, timeout_s: float = 120.0) -> (
            DockedCapture):
        """Wait until the engine is in `state` AND the docked icon shows it; capture it."""
        last = ""
        shot = ARTEFACTS / f"{state.value}.png"

        def docked() -> DockedCapture | None:
            nonlocal last
            assert self.process is not None and self.process.poll() is None, (
                f"the tray app exited ({self.process and self.process.returncode})\n"
                f"{self.diagnostics()}")
            window = self.icon_window()
            if window is None or self.state() != state.value:
                last = f"state {self.state()}, icon window {window}"
                return None
            where = window_geometry(self.server, window)
            screen = self.server.screenshot(shot)
            icon = screen.crop((where.x, where.y, where.x + where.width, where.y + where.height))
            difference = mean_difference(icon, expected_docked_icon(
                state, where.width, where.height))
            name = self.server.run("xdotool", "getwindowname", window).strip()
            last = f"state {state.value}, icon differs by {difference:.1f}, tooltip {name!r}"
            if difference >= 6 or state_label(state).rstrip("…") not in name:
                return None
            tray_area(screen).resize((800, 128), Image.Resampling.NEAREST).save(
                ARTEFACTS / f"{state.value}-tray.png")
            return DockedCapture(state, icon, name, shot)

        try:
            return wait_until(docked, timeout_s, lambda: f"the tray to show {state.value} ({last})",
                              interval_s=0.2)
        except WaitTimedOut as error:
            if shot.exists():  # keep what the screen showed for the report
                shot.replace(shot.with_name(f"{state.value}-FAILED.png"))
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGUSR1)  # the app dumps its threads' stacks
                time.sleep(1)  # a moment to write them before the log is read
            raise AssertionError(f"{error}\n{self.diagnostics()}") from error

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (like a log-off) and wait; the exit code. A hang dumps stacks, then kills."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler writes the stacks
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            stop_process(self.process)
            return self.process.returncode


@contextlib.contextmanager
def running_tray_app(server: XServer, home: Path, env: dict[str, str]) -> Iterator[
        TrayAppProcess]:
    """The tray app running for a test; always stopped."""
    os.makedirs(home, exist_ok=True)
    app = TrayAppProcess(server, home, env)
    app.start()
    try:
        yield app
    finally:
        app.stop()
