"""Windows: the tray menu is never rebuilt while it is open.

pystray's win32 `update_menu()` destroys the menu handle and builds a new one, on whatever
thread calls it; ours is the engine's, on every status change (a heartbeat, a sync). When that
happens while the person has the menu open (`TrackPopupMenuEx` is showing that very handle on
the icon's thread), the open menu closes or the click on it is lost. Under wine this showed as
menus that vanished and clicks that did nothing, several times in a row on a loaded machine.

So on win32 the icon's class is wrapped: while its right-click handler runs (the menu is open
and its choice is being carried out), a rebuild is only noted; it is done once the menu is
closed, on the icon's own thread. Relies on pystray 0.19's `_on_notify` and `_update_menu`
(pinned; `tests/client/test_win32_menu.py` checks the installed pystray still has them).
"""

from __future__ import annotations

import threading
from typing import Any

WM_RBUTTONUP = 0x0205  # the notify message's lParam for a right-click released on the icon


def is_win32_icon_class(icon_class: type) -> bool:
    """Whether `icon_class` is pystray's win32 backend (or built like it)."""
    return all(callable(getattr(icon_class, name, None)) for name in ("_on_notify", "_update_menu"))


def menu_safe_icon_class(icon_class: type) -> type:
    """`icon_class` itself, or on win32 a subclass that defers menu rebuilds while it is open."""
    if not is_win32_icon_class(icon_class):
        return icon_class

    class MenuSafeIcon(icon_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._menu_lock = threading.Lock()
            self._menu_open = False
            self._menu_stale = False
            # Set first: pystray's __init__ already builds the menu (`_update_menu`). It binds
            # `self._on_notify`, this class's, as the notify message's handler.
            super().__init__(*args, **kwargs)

        def _update_menu(self) -> None:
            with self._menu_lock:
                if self._menu_open:
                    self._menu_stale = True
                    return
                super()._update_menu()

        def _on_notify(self, wparam: Any, lparam: Any) -> Any:
            if lparam != WM_RBUTTONUP:
                return super()._on_notify(wparam, lparam)
            with self._menu_lock:
                self._menu_open = True
            try:
                return super()._on_notify(wparam, lparam)
            finally:
                with self._menu_lock:
                    self._menu_open = False
                    stale, self._menu_stale = self._menu_stale, False
                    if stale:
                        super()._update_menu()

    MenuSafeIcon.__name__ = MenuSafeIcon.__qualname__ = f"MenuSafe{icon_class.__name__}"
    return MenuSafeIcon
