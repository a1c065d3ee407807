"""A private X server (Xvfb) with a real system-tray host (trayer), and screenshots of it.

Xvfb picks a free display number itself (`-displayfd`), so parallel sessions never collide.
Missing Debian packages skip locally and fail in CI (tests.support.system).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from tests.support.processes import running_process, stop_process
from tests.support.system import require_executable
from tests.support.waiting import WaitTimedOut, wait_until

SCREEN_WIDTH, SCREEN_HEIGHT = 800, 600
# trayer's panel: a strip at the top right, where docked icons appear.
TRAY_WIDTH, TRAY_HEIGHT = 200, 32
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "tray"


@dataclass
class XServer:
    """A running Xvfb: its display name and the environment that points programs at it."""

    display: str
    process: subprocess.Popen[bytes]

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ pointed at this display (and nothing else changed)."""
        return {**os.environ, "DISPLAY": self.display, **extra}

    def run(self, *command: str, timeout_s: float = 20.0) -> str:
        """Run an X client (xdotool, xwininfo, import) against this display; its stdout."""
        result = subprocess.run(list(command), env=self.env(), capture_output=True,
                                timeout=timeout_s, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace')}")
        return result.stdout.decode(errors="replace")

    def screenshot(self, path: Path) -> Image.Image:
        """The whole screen, saved to `path` (ImageMagick's import, as a person would)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run("import", "-window", "root", str(path))
        with Image.open(path) as image:
            return image.convert("RGB")

    def window_ids(self, name: str) -> list[str]:
        """X window ids whose name matches `name` (a regular expression), maybe none."""
        result = subprocess.run(["xdotool", "search", "--name", name], env=self.env(),
                                capture_output=True, timeout=10, check=False)
        return result.stdout.decode().split()


@contextlib.contextmanager
def running_xvfb() -> Iterator[XServer]:
    """Start Xvfb on a free display number; always stop it."""
    xvfb = require_executable("Xvfb", "xvfb")
    # The tests drive and photograph the screen with these: check them up front.
    require_executable("xdotool", "xdotool")
    require_executable("import", "imagemagick")
    require_executable("xwininfo", "x11-utils")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [str(xvfb), "-displayfd", str(write_end), "-screen", "0",
         f"{SCREEN_WIDTH}x{SCREEN_HEIGHT}x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            number = pipe.readline().decode().strip()  # written once Xvfb accepts clients
        if not number.isdigit():
            raise RuntimeError(f"Xvfb did not start (exit code {process.poll()})")
        yield XServer(display=f":{number}", process=process)
    finally:
        stop_process(process)


@contextlib.contextmanager
def running_tray_host(server: XServer, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """trayer, the X system tray host, docked at the top right; always stopped."""
    trayer = require_executable("trayer", "trayer")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with running_process(
            [str(trayer), "--edge", "top", "--align", "right", "--widthtype", "pixel",
             "--width", str(TRAY_WIDTH), "--heighttype", "pixel", "--height", str(TRAY_HEIGHT),
             "--transparent", "false", "--tint", "0xdddddd", "--SetDockType", "true"],
            env=server.env(), log_path=log_path, ready_timeout_s=20,
            ready_check=lambda: server.window_ids("^panel$")) as process:
        yield process


def tray_area(screen: Image.Image) -> Image.Image:
    """The tray strip cropped from a screenshot."""
    return screen.crop((SCREEN_WIDTH - TRAY_WIDTH, 0, SCREEN_WIDTH, TRAY_HEIGHT))


class DialogDriver:
    """Drives Tk dialogs on the test X server the way a person would: typing and clicking.

    Widget positions are read on the Tk thread; the input itself goes through the X server
    (xdotool's XTEST events), so the dialogs really render and really receive the events.
    """

    def __init__(self, server: XServer, host: Any) -> None:
        self.server = server
        self.host = host

    def on_tk(self, function: Any) -> Any:
        """Run `function()` on the dialogs' Tk thread and return its result."""
        return self.host.run(lambda _root: function())

    def wait_visible(self, widget: Any, timeout_s: float = 20.0) -> None:
        """Until the widget is mapped on the screen."""
        self.wait_until(lambda: widget.winfo_viewable(), f"{widget} to become visible", timeout_s)

    def _centre(self, widget: Any, timeout_s: float = 20.0) -> tuple[int, int]:
        """The widget's centre on the screen, once the widget itself is what is there.

        A dialog that was just shown may still be placed or laid out (more so on a loaded
        machine): a click aimed at where the widget was read to be would land elsewhere (a
        lost "Drop them and pair" click in a CI run). So the centre counts only when Tk says
        the widget is the one under it.
        """
        self.wait_visible(widget, timeout_s)

        def settled() -> tuple[int, int] | None:
            x = widget.winfo_rootx() + widget.winfo_width() // 2
            y = widget.winfo_rooty() + widget.winfo_height() // 2
            under = widget.winfo_containing(x, y)
            return (x, y) if under is not None and str(under) == str(widget) else None

        return wait_until(lambda: self.on_tk(settled), timeout_s,
                          f"{widget} to be under its own centre", interval_s=0.05)

    def click(self, widget: Any) -> None:
        """A left click in the middle of the widget."""
        x, y = self._centre(widget)
        # The pointer leaves first and comes back, so the widget sees it enter as a hand would
        # move it (it may have sat over a button that was disabled and enabled meanwhile).
        # No --sync: it stalls for seconds when the pointer is already there. XTEST events
        # keep their order, so the click lands after the moves anyway.
        self.server.run("xdotool", "mousemove", "0", "0", "mousemove", str(x), str(y),
                        "click", "1")

    def click_until(self, widget: Any, answered: Any, what: str, tries: int = 3,
                    wait_s: float = 15.0) -> None:
        """Click `widget` until `answered()` (run on the Tk thread) says the click was taken.

        Now and then an XTEST click on a just-laid-out Tk dialog never reaches it (CI runs lost
        a "Drop them and pair" click while Tk reported the button under the pointer). A lost
        click is clicked again, after a screenshot of it, so the test goes on to what it checks.
        `answered` must turn true at once when the click is taken (e.g. the dialog turns busy),
        so that a slow answer is never clicked twice.
        """
        for attempt in range(1, tries + 1):
            self.click(widget)
            try:
                self.wait_until(answered, what, timeout_s=wait_s)
                return
            except WaitTimedOut:
                self.screenshot(f"click-lost-{attempt}")
        raise WaitTimedOut(f"{what}: {tries} clicks on {widget} were not taken")

    def type_into(self, entry: Any, text: str) -> None:
        """Click into the entry, then type like a keyboard (clipboard-free paste)."""
        self.click(entry)
        self.on_tk(lambda: entry.focus_force())
        self.server.run("xdotool", "type", "--delay", "2", "--", text)
        self.on_tk(lambda: entry.update())

    def press(self, key: str) -> None:
        """One key (e.g. "Return") to the focused window."""
        self.server.run("xdotool", "key", key)

    def wait_until(self, condition: Any, what: str, timeout_s: float = 30.0) -> None:
        """Until `condition()` (run on the Tk thread) is true."""
        wait_until(lambda: self.on_tk(condition), timeout_s, what, interval_s=0.05)

    def screenshot(self, name: str) -> Path:
        """The screen now, into test-artefacts/tray/<name>.png."""
        path = ARTEFACTS / f"{name}.png"
        self.server.screenshot(path)
        return path
