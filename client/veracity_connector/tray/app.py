"""The tray icon itself: pystray's `Icon.run()` on the main thread, the engine in workers.

The icon, its tooltip and the menu follow the engine's status: every change swaps the image,
sets the title (the tooltip; on X it is also the icon window's name) and asks pystray to
rebuild the menu. A change that needs the person raises a notification where the platform has
them (Windows balloons); elsewhere it is logged.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from veracity_connector.state import ConnectorStatus
from veracity_connector.tray.controller import TrayController
from veracity_connector.tray.icons import icon_for_state
from veracity_connector.tray.menu import Menu, build_menu, to_pystray_menu
from veracity_connector.tray.presentation import Notification, notification_for_change, tooltip
from veracity_connector.tray.win32_menu import menu_safe_icon_class
from veracity_connector.tray.xorg_thread import XorgIconThread, is_xorg_icon

logger = logging.getLogger(__name__)

ICON_NAME = "VeracityIBKRConnector"
ICON_SIZE = 64


class TrayApp:
    """Binds a `TrayController` to a pystray icon."""

    def __init__(self, controller: TrayController, pystray_module: Any) -> None:
        self.controller = controller
        self._pystray = pystray_module
        self.menu: Menu = build_menu(controller, controller.view)
        self._lock = threading.Lock()
        self._shown: ConnectorStatus | None = None
        self._notified_for: ConnectorStatus | None = None
        self._latest: ConnectorStatus | None = None
        self._icon_thread: XorgIconThread | None = None  # set on X, where it is needed
        status = controller.slot.status
        icon_class = menu_safe_icon_class(pystray_module.Icon)  # see win32_menu.py
        self.icon = icon_class(
            ICON_NAME, icon=icon_for_state(status.state, ICON_SIZE), title=tooltip(status),
            menu=to_pystray_menu(self.menu, pystray_module))

    def notify(self, notification: Notification) -> None:
        """A balloon/toast where supported; always a log line."""
        logger.info("notification: %s — %s", notification.title, notification.message)
        if getattr(self.icon, "HAS_NOTIFICATION", False) and self.icon.visible:
            try:
                self.icon.notify(notification.message, notification.title)
            except Exception:
                logger.exception("the notification could not be shown")

    def show_status(self, status: ConnectorStatus) -> None:
        """Make icon, tooltip and menu show `status` (called on the engine's thread)."""
        with self._lock:
            notification = notification_for_change(self._notified_for, status)
            self._notified_for = status
            self._latest = status
        if self._icon_thread is not None:
            # X: never call pystray from this thread (see xorg_thread.py); queue it instead.
            # Only the newest status is drawn: a burst of changes becomes one update.
            self._icon_thread.submit(self._draw_latest)
        else:
            self._draw_latest()
        if notification is not None:
            self.notify(notification)
        self.controller.status_changed()

    def _draw_latest(self) -> None:
        # Draw under the lock: two threads drawing (engine and setup, off X) could otherwise
        # finish out of order and leave an older status on screen. pystray's setters do not
        # wait for another thread, so holding the lock while they run cannot deadlock.
        with self._lock:
            status = self._latest
            previous, self._shown = self._shown, status
            if status is None or status == previous:
                return
            if previous is None or previous.state != status.state:
                self.icon.icon = icon_for_state(status.state, ICON_SIZE)
            title = tooltip(status)
            if self.icon.title != title:
                self.icon.title = title
            self.icon.update_menu()

    def _setup(self, icon: Any) -> None:
        if is_xorg_icon(icon):
            self._icon_thread = XorgIconThread(icon)
            self._icon_thread.submit(lambda: self._show_icon(icon))
        else:
            self._show_icon(icon)
        self.controller.slot.subscribe(self.show_status)
        self.controller.slot.start()
        self.show_status(self.controller.slot.status)
        self.controller.run_follower()
        self.controller.run_update_checks()
        logger.info("tray icon shown")

    def run(self) -> None:
        """Run until Quit (blocks the calling thread, which must be the main thread)."""
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, self._quit_on_signal)
        try:
            self.icon.run(setup=self._setup)
        finally:
            if self._icon_thread is not None:
                self._icon_thread.close()

    def _quit_on_signal(self, signal_number: int, _frame: object) -> None:
        # Log-off, `kill` or Ctrl-C: quit like the menu's Quit, so a gateway we started is not
        # left running without a window. Not from inside the handler: it interrupted the
        # icon's own loop, which quitting has to talk to.
        logger.info("signal %s: quitting", signal_number)
        threading.Thread(target=self.controller.quit, name="quit", daemon=True).start()

    def _show_icon(self, icon: Any) -> None:
        icon.visible = True
        _let_xorg_icon_receive_clicks(icon)

    def stop(self) -> None:
        """Take the icon away and end `run()`."""
        if self._icon_thread is not None:
            self._icon_thread.submit(self.icon.stop)
        else:
            self.icon.stop()


def _let_xorg_icon_receive_clicks(icon: Any) -> None:
    """pystray's X backend handles clicks but never asks X for them: ask, so a click works.

    (Its icon window selects only Exposure and StructureNotify events; without ButtonPress in
    the mask the click handler, which opens the status window, is never called.)
    """
    window = getattr(icon, "_window", None)
    if window is None or not is_xorg_icon(icon):
        return
    try:
        from Xlib import X

        window.change_attributes(event_mask=X.ExposureMask | X.StructureNotifyMask
                                 | X.ButtonPressMask)
        icon._display.flush()
    except Exception:
        logger.exception("could not enable clicks on the X tray icon")
