"""The Windows tray menu is not rebuilt under the person's pointer (tray/win32_menu.py).

The win32 icon below stands in for pystray's: `_on_notify` holds "the menu open" until the test
lets go, as `TrackPopupMenuEx` does, and `_update_menu` destroys the handle and makes a new one,
as pystray's does. The real backend runs in tests/windows/test_tray.py under wine; the last
test here checks the installed pystray still has the two methods the wrapper relies on.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from veracity_connector.tray.win32_menu import (
    WM_RBUTTONUP,
    is_win32_icon_class,
    menu_safe_icon_class,
)

WM_LBUTTONUP = 0x0202


class TrackingIcon:
    """pystray's win32 menu handling, with the open menu held until `close_menu` is set."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.handles = 0
        self.destroyed: set[int] = set()
        self.menu_open = threading.Event()
        self.close_menu = threading.Event()
        self.chosen: list[int] = []  # the handle each finished menu was shown from
        self.broken_while_open: list[int] = []
        self._menu_handle = 0
        self._update_menu()  # as pystray's __init__ does

    def _update_menu(self) -> None:
        if self._menu_handle:
            self.destroyed.add(self._menu_handle)
        self.handles += 1
        self._menu_handle = self.handles

    def _on_notify(self, _wparam: Any, lparam: Any) -> None:
        if lparam != WM_RBUTTONUP:
            return
        shown = self._menu_handle
        self.menu_open.set()
        assert self.close_menu.wait(10)
        if shown in self.destroyed:
            self.broken_while_open.append(shown)
        self.chosen.append(shown)


def open_menu_while_status_changes(icon: Any, changes: int) -> None:
    """Right-click (the icon's thread), `changes` rebuilds from another thread, then close."""
    clicked = threading.Thread(target=icon._on_notify, args=(0, WM_RBUTTONUP))
    clicked.start()
    assert icon.menu_open.wait(10)
    for _ in range(changes):
        icon._update_menu()
    icon.close_menu.set()
    clicked.join(10)
    assert not clicked.is_alive()


@pytest.fixture
def safe_icon() -> Iterator[Any]:
    yield menu_safe_icon_class(TrackingIcon)()


def test_pystrays_own_handling_destroys_the_open_menu() -> None:
    # Why the wrapper exists: the same sequence without it breaks the menu being shown.
    icon = TrackingIcon()
    open_menu_while_status_changes(icon, changes=1)
    assert icon.broken_while_open == [1]


def test_rebuilds_wait_until_the_menu_is_closed_and_then_happen_once(safe_icon: Any) -> None:
    open_menu_while_status_changes(safe_icon, changes=3)
    assert safe_icon.broken_while_open == []
    assert safe_icon.chosen == [1]
    assert safe_icon._menu_handle == 2  # one rebuild for the three changes, after closing
    assert safe_icon.destroyed == {1}


def test_without_changes_the_menu_is_not_rebuilt(safe_icon: Any) -> None:
    open_menu_while_status_changes(safe_icon, changes=0)
    assert safe_icon._menu_handle == 1
    assert safe_icon.destroyed == set()


def test_with_the_menu_closed_a_change_rebuilds_at_once(safe_icon: Any) -> None:
    safe_icon._update_menu()
    assert safe_icon._menu_handle == 2
    safe_icon._on_notify(0, WM_LBUTTONUP)  # a left click opens no menu
    safe_icon._update_menu()
    assert safe_icon._menu_handle == 3


def test_other_backends_are_left_as_they_are() -> None:
    class XorgLike:
        def _update_menu(self) -> None: ...

    assert menu_safe_icon_class(XorgLike) is XorgLike
    assert is_win32_icon_class(TrackingIcon)


def test_the_installed_pystray_win32_backend_has_what_the_wrapper_relies_on() -> None:
    # pystray's win32 modules load only on Windows (ctypes.windll), and importing pystray here
    # needs an X display: read the installed source instead.
    spec = importlib.util.find_spec("pystray")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    backend = (package / "_win32.py").read_text(encoding="utf-8")
    constants = (package / "_util" / "win32.py").read_text(encoding="utf-8")
    assert re.search(r"^    def _update_menu\(self\):", backend, re.MULTILINE)
    assert re.search(r"^    def _on_notify\(self, wparam, lparam\):", backend, re.MULTILINE)
    assert "win32.WM_NOTIFY: self._on_notify" in backend  # bound per instance: ours is used
    assert "lparam == win32.WM_RBUTTONUP" in backend and "TrackPopupMenuEx" in backend
    assert re.search(rf"^WM_RBUTTONUP = {WM_RBUTTONUP:#06x}$", constants, re.MULTILINE)
