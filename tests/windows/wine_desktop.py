"""The Windows tray app in a wine desktop on a private Xvfb, watched and driven like a person would.

`wine explorer /desktop=shell,WxH PROGRAM` runs PROGRAM inside a wine "virtual desktop" that fills
the Xvfb screen and, because the desktop is named `shell`, draws wine's taskbar with its
notification area (the tray) at the bottom right. Icons there are what `Shell_NotifyIcon` shows:
the real win32 icon pystray's win32 backend made. Wine still gives each top-level window (the
Tk dialogs, the tray's popup menu) an X child window, so xwininfo/xdotool find and measure
them, and xdotool's clicks and keys go through wine's input path like a mouse would.

Found by trying (wine 8.0, Debian): the taskbar is 20 px high; tray icons are 16x16 with their
centres on the taskbar's middle line; a popup menu is an unnamed X window of the app's process,
3 px of border, 16 px per item and 9 px per separator.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, ImageChops, ImageStat

from tests.support.processes import stop_process
from tests.support.waiting import WaitTimedOut, wait_until
from tests.tray.x_server import SCREEN_HEIGHT, SCREEN_WIDTH, XServer
from veracity_connector.state import ConnectorState
from veracity_connector.tray.icons import icon_for_state

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = REPO_ROOT / "test-artefacts" / "windows"
DESKTOP_NAME = "shell"  # wine draws a taskbar (with the tray) only for a desktop of this name
TASKBAR_HEIGHT = 20
TRAY_ICON_SIZE = 16
MENU_BORDER, MENU_SEPARATOR_HEIGHT = 3, 9
T = TypeVar("T")
MENU_ITEM_HEIGHTS = range(14, 25)
# An icon counts as found when its opaque pixels differ from the drawing by less than this
# (mean per channel, 0-255); another state's icon differs by 60 or more.
ICON_MATCH_LIMIT = 30.0
_WINDOW_LINE = re.compile(
    r'^\s+(0x[0-9a-f]+) (?:"(?P<name>[^"]*)"|\(has no name\)): \((?P<class>[^)]*)\)\s+'
    r"(?P<width>\d+)x(?P<height>\d+)\+(?P<x>-?\d+)\+(?P<y>-?\d+)")


@dataclass(frozen=True)
class Window:
    """An X window wine made for a Windows top-level window."""

    id: str
    name: str
    owner: str  # the X class, e.g. '"python.exe" "python.exe"'
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2


@dataclass(frozen=True)
class IconMatch:
    """Where the tray icon best matches a drawing, and how well (lower is better)."""

    x: int
    y: int
    difference: float

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + TRAY_ICON_SIZE // 2, self.y + TRAY_ICON_SIZE // 2


def windows(server: XServer) -> list[Window]:
    """Every window wine shows inside its desktop (1x1 helper windows left out)."""
    tree = server.run("xwininfo", "-root", "-tree")
    found = []
    for line in tree.splitlines():
        match = _WINDOW_LINE.match(line)
        if match is None or int(match["width"]) <= 1 or int(match["height"]) <= 1:
            continue
        found.append(Window(match[1], match["name"] or "", match["class"], int(match["x"]),
                            int(match["y"]), int(match["width"]), int(match["height"])))
    return found


def expected_tray_icon(state: ConnectorState) -> Image.Image:
    """The app's drawing for `state` at tray size (RGBA: the corners are transparent)."""
    return icon_for_state(state, 64).resize((TRAY_ICON_SIZE, TRAY_ICON_SIZE),
                                            Image.Resampling.LANCZOS)


def find_tray_icon(screen: Image.Image, state: ConnectorState) -> IconMatch:
    """The best match of the state's icon in the notification area (the taskbar's right end)."""
    template = expected_tray_icon(state)
    mask = template.getchannel("A").point(lambda alpha: 255 if alpha > 200 else 0)
    opaque = template.convert("RGB")
    top = SCREEN_HEIGHT - TASKBAR_HEIGHT
    best = IconMatch(0, 0, 255.0)
    for y in range(top, SCREEN_HEIGHT - TRAY_ICON_SIZE + 1):
        for x in range(SCREEN_WIDTH // 2, SCREEN_WIDTH - TRAY_ICON_SIZE + 1):
            patch = screen.crop((x, y, x + TRAY_ICON_SIZE, y + TRAY_ICON_SIZE))
            difference = ImageChops.difference(patch, opaque)
            mean = sum(ImageStat.Stat(difference, mask).mean) / 3
            if mean < best.difference:
                best = IconMatch(x, y, mean)
    return best


class WineDesktop:
    """One program in a wine desktop on the private X server; its output collected."""

    def __init__(self, server: XServer, env: dict[str, str], program: list[str]) -> None:
        self.server = server
        self.env = {**env, "DISPLAY": server.display}
        self.program = program
        self.process: subprocess.Popen[bytes] | None = None
        self._output: list[bytes] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        """`wine explorer /desktop=shell,WxH PROGRAM`, output on a pipe (wine 8's Windows
        Python dies when its output is a regular file)."""
        size = f"{SCREEN_WIDTH}x{SCREEN_HEIGHT}"
        self.process = subprocess.Popen(
            ["wine", "explorer", f"/desktop={DESKTOP_NAME},{size}", *self.program],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        stdout = self.process.stdout
        assert stdout is not None
        self._reader = threading.Thread(target=lambda: self._output.extend(iter(
            lambda: stdout.read1(4096), b"")), name="wine-desktop-output", daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        """What the program and wine printed so far."""
        return b"".join(self._output).decode("utf-8", errors="replace")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout_s: float) -> int:
        """Wait for the program (and its desktop) to end; its exit code."""
        assert self.process is not None
        code = self.process.wait(timeout=timeout_s)
        if self._reader is not None:
            self._reader.join(10)
        return code

    def stop(self) -> None:
        """End the desktop's process group if it is still there (a failed test)."""
        if self.running():
            assert self.process is not None
            stop_process(self.process)

    # --- looking and clicking ---------------------------------------------------------------

    def screenshot(self, name: str) -> tuple[Path, Image.Image]:
        """The whole screen into test-artefacts/windows/<name>.png."""
        path = ARTEFACTS / f"{name}.png"
        return path, self.server.screenshot(path)

    def wait_for_tray_icon(self, state: ConnectorState, timeout_s: float = 120.0) -> IconMatch:
        """Until the notification area shows the state's icon; where it is."""
        last: list[IconMatch] = []

        def shown() -> IconMatch | None:
            assert self.running(), f"the tray app ended early:\n{self.output}"
            _path, screen = self.screenshot(f"tray-{state.value}")
            match = find_tray_icon(screen, state)
            last[:] = [match]
            return match if match.difference < ICON_MATCH_LIMIT else None

        return wait_until(shown, timeout_s, lambda: f"the {state.value} icon in wine's tray "
                          f"(best match {last})", interval_s=1.0)

    def wait_for_window(self, name: str, timeout_s: float = 60.0) -> Window:
        """Until a window whose name contains `name` is shown."""
        return wait_until(lambda: next((w for w in windows(self.server) if name in w.name),
                                       None), timeout_s, f"a window named {name!r}",
                          interval_s=0.5)

    def open_tray_menu(self, icon: IconMatch, timeout_s: float = 15.0, tries: int = 3
                       ) -> Window:
        """Right-click the tray icon; the popup menu's window (unnamed, the app's process).

        Wine loses a right-click now and then on a loaded machine (once in a CI run, on the
        icon's first menu): with no menu after `timeout_s`, Escape (a menu that did open is
        closed) and right-click again, up to `tries` times.
        """
        for attempt in range(1, tries + 1):
            before = {window.id for window in windows(self.server)}
            self.server.run("xdotool", "mousemove", *map(str, icon.centre), "click", "3")
            try:
                return wait_until(functools.partial(self._new_popup, before), timeout_s,
                                  "the tray's popup menu", interval_s=0.3)
            except WaitTimedOut:
                self.screenshot(f"menu-open-lost-{attempt}")
                self.press("Escape")
                if attempt == tries:
                    raise
        raise AssertionError("unreachable")

    def _new_popup(self, before: set[str]) -> Window | None:
        """An unnamed window of the app's process, not among `before`, tall as a menu."""
        return next((w for w in windows(self.server) if w.id not in before and not w.name
                     and "python" in w.owner.lower() and w.height > 100), None)

    def choose_from_tray_menu(self, icon: IconMatch, rows: list[str], label: str,
                              done: Callable[[], T], menu: Window | None = None,
                              timeout_s: float = 30.0, tries: int = 3) -> T:
        """Click `label` in the tray menu (`menu` if it is open already) and wait until
        `done()` says it happened (its value is returned); a click wine lost is tried again
        with the menu opened anew, up to `tries` times."""
        for attempt in range(1, tries + 1):
            if menu is None or attempt > 1:
                menu = self.open_tray_menu(icon)
            self.click_menu_item(menu, rows, label)
            try:
                return wait_until(done, timeout_s, f"what {label!r} does", interval_s=0.5)
            except WaitTimedOut:
                self.screenshot(f"menu-click-lost-{attempt}")
                self.press("Escape")  # a menu still open would take the next right-click
                if attempt == tries:
                    raise
        raise AssertionError("unreachable")

    def click_menu_item(self, menu: Window, rows: list[str], label: str) -> None:
        """Left-click the row showing `label`; `rows` are the menu's visible rows in order,
        '-' for a separator (the layout is checked against the menu window's height)."""
        items = sum(1 for row in rows if row != "-")
        separators = len(rows) - items
        # An item's height follows the menu font's, which depends on the fonts the machine
        # has (16 px in CI, 17 px on a machine with other fonts): the one that fits exactly.
        item_height = next((height for height in MENU_ITEM_HEIGHTS
                            if menu.height == 2 * MENU_BORDER + items * height
                            + separators * MENU_SEPARATOR_HEIGHT), None)
        assert item_height is not None, (
            f"the menu is {menu.height} px high; {items} items of {MENU_ITEM_HEIGHTS[0]}-"
            f"{MENU_ITEM_HEIGHTS[-1]} px and {separators} separators of "
            f"{MENU_SEPARATOR_HEIGHT} px cannot make that: the layout assumption is off ({rows})")
        top = menu.y + MENU_BORDER
        for row in rows:
            height = MENU_SEPARATOR_HEIGHT if row == "-" else item_height
            if row == label:
                self.server.run("xdotool", "mousemove", str(menu.x + 40),
                                str(top + height // 2), "click", "1")
                return
            top += height
        raise KeyError(f"{label!r} is not in the menu {rows}")

    def click_into(self, window: Window) -> None:
        """Left-click inside a window near its top, as a user does before typing into it: the
        window becomes the active one, and Tk gives the keys to its focused widget."""
        self.server.run("xdotool", "mousemove", str(window.x + window.width // 2),
                        str(window.y + min(25, window.height // 4)), "click", "1")

    def clear_entry(self, most_chars: int = 200) -> None:
        """Empty the focused entry field: End, then enough BackSpaces."""
        self.server.run("xdotool", "key", "End")
        self.server.run("xdotool", "key", "--repeat", str(most_chars), "--delay", "2",
                        "BackSpace")

    def type_text(self, text: str) -> None:
        """Type into the focused window."""
        self.server.run("xdotool", "type", "--delay", "5", "--", text)

    def press(self, key: str) -> None:
        self.server.run("xdotool", "key", key)


@contextlib.contextmanager
def running_in_wine_desktop(server: XServer, env: dict[str, str], program: list[str]
                            ) -> Iterator[WineDesktop]:
    """The program in a wine desktop for a test; stopped if the test did not end it."""
    desktop = WineDesktop(server, env, program)
    desktop.start()
    try:
        yield desktop
    finally:
        desktop.stop()


def save_small_png(screen: Image.Image, box: tuple[int, int, int, int], path: Path,
                   scale: int = 1) -> None:
    """A crop of a screenshot, optionally enlarged (pixel-exact), as a small PNG for the docs."""
    crop = screen.crop(box)
    if scale != 1:
        crop = crop.resize((crop.width * scale, crop.height * scale), Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    crop.save(path, optimize=True)


def crash_dialog_off(run: Any) -> None:
    """No "Program Error" dialog from wine's debugger: a crash ends the process at once (and
    the test sees it) instead of waiting for someone to press Close."""
    run(["reg", "add", r"HKCU\Software\Wine\WineDbg", "/v", "ShowCrashDialog", "/t",
         "REG_DWORD", "/d", "0", "/f"])
