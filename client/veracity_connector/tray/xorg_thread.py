"""Run code on pystray's X event thread, woken through a private X connection.

pystray's xorg backend lets other threads change the icon by sending a message on the icon's
own X connection and waiting for the event loop to answer. python-xlib's locking is not safe
for that: with the event loop inside a request (e.g. redrawing after an Expose) and another
thread flushing the same connection, both can wait forever (seen in our tray tests: the icon
froze while the engine kept going). So other threads never touch pystray's connection here:
they queue the change and wake the event loop with a ClientMessage sent over a connection of
our own; the loop then applies the change on its own thread, where pystray calls X directly.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

WAKE_ATOM = "_VERACITY_TRAY_RUN_QUEUED"


def is_xorg_icon(icon: Any) -> bool:
    """True for pystray's X11 backend (the only one that needs this)."""
    return type(icon).__module__ == "pystray._xorg"


def _dock_once(icon: Any) -> None:
    """Ask the tray to embed the icon only while it is not embedded.

    pystray repeats the dock request on every image change. trayer re-embeds the window each
    time, and two requests close together (revoked → needs_token arrive milliseconds apart)
    left the tray empty in our tests. pystray already docks again on its own when the tray
    host itself goes away (DestroyNotify), so one request per embedding is enough.
    """
    request_dock = icon._assert_docked

    def assert_docked() -> None:
        if icon._systray_manager is None:
            request_dock()

    icon._assert_docked = assert_docked


class XorgIconThread:
    """Queues callables for the icon's X event thread and wakes it to run them."""

    def __init__(self, icon: Any) -> None:
        import Xlib.display
        import Xlib.X

        self._x = Xlib.X
        self._pending: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._send_lock = threading.Lock()
        self._display = Xlib.display.Display()  # ours alone: only used under _send_lock
        self._wake_atom = self._display.intern_atom(WAKE_ATOM)
        self._window = self._display.create_resource_object("window", icon._window.id)
        delegate = icon._message_handlers.get(Xlib.X.ClientMessage, lambda _event: None)

        def on_client_message(event: Any) -> None:
            if event.client_type == self._wake_atom:
                self._run_pending()
            else:
                delegate(event)

        # pystray looks handlers up per event, so this takes effect on the next message.
        icon._message_handlers[Xlib.X.ClientMessage] = on_client_message
        _dock_once(icon)

    def submit(self, function: Callable[[], None]) -> None:
        """Run `function` on the X event thread soon; returns at once."""
        import Xlib.protocol.event

        self._pending.put(function)
        message = Xlib.protocol.event.ClientMessage(
            window=self._window, client_type=self._wake_atom,
            data=(32, (self._x.CurrentTime, 0, 0, 0, 0)))
        with self._send_lock:
            try:
                self._window.send_event(message, event_mask=self._x.NoEventMask)
                self._display.flush()
            except Exception:  # the icon window is gone: the app is quitting
                logger.debug("could not wake the tray icon's thread", exc_info=True)

    def _run_pending(self) -> None:
        while True:
            try:
                function = self._pending.get_nowait()
            except queue.Empty:
                return
            try:
                function()
            except Exception:
                logger.exception("a tray icon update failed")

    def close(self) -> None:
        """Close our X connection."""
        with self._send_lock:
            self._display.close()
