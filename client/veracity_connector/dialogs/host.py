"""One Tk interpreter in its own thread, so dialogs never block the tray's main loop.

pystray's `Icon.run()` owns the main thread, and Tk wants every call made from the thread that
created it. The `DialogHost` thread creates a hidden root window and runs Tk's loop; other
threads hand it work with `call()` (fire and forget) or `run()` (wait for the result). Tk is
started on first use, so the tray costs nothing while no dialog was ever opened.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Work is handed over through a queue. Callers wake the Tk thread with `after(0, ...)`, which
# tkinter forwards to the Tk thread when Tcl is built with threads (python.org's builds are);
# where that is refused, a slow poll still picks the work up.
_FALLBACK_POLL_MS = 1000


class DialogHostStopped(RuntimeError):
    """The dialog thread is gone (the app is quitting)."""


class DialogHost:
    """Owns the Tk root in a background thread and runs callables there."""

    def __init__(self, class_name: str = "VeracityIBKRConnector",
                 display: str | None = None) -> None:
        self._class_name = class_name
        self._display = display  # an X display such as ":7"; None: the default (DISPLAY)
        self._work: queue.Queue[tuple[Callable[[tk.Tk], Any], Future[Any]] | None] = (
            queue.Queue())
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._lock = threading.Lock()
        self._wakers = 0  # threads inside _wake, holding a reference to the Tk root
        self._root: tk.Tk | None = None
        # The open dialog of each kind. Held here (not by callers) so that at shutdown the last
        # references to Tk objects die on the Tk thread: Tcl aborts the process when its
        # interpreter is deleted from another thread.
        self._dialogs: dict[str, Any] = {}

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name="dialogs", daemon=True)
                self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise DialogHostStopped(f"dialogs cannot be shown: {self._start_error}")

    def _main(self) -> None:
        try:
            root = tk.Tk(screenName=self._display, className=self._class_name)
        except tk.TclError as error:  # no display
            self._start_error = error
            self._ready.set()
            return
        root.withdraw()  # only the dialogs (Toplevels) are ever seen
        # Tk prints callback errors to stderr, which a windowed build does not have: log them.
        root.report_callback_exception = self._log_callback_error
        self._root = root
        self._ready.set()
        root.after(_FALLBACK_POLL_MS, self._poll)
        root.mainloop()
        with self._lock:
            self._root = None  # no new waker picks the root up from here on
        # A waker holds its own reference to the root while its `after` call is forwarded to
        # this thread. Had it the last one when this thread let go, Tk would be deleted on the
        # waker's thread, and Tcl aborts the process for that ("Tcl_AsyncDelete: async handler
        # deleted by the wrong thread": the tray crashed on Quit under Windows). So keep
        # serving their calls until every waker is out, and only then let go, here.
        while self._wakers_inside():
            with contextlib.suppress(tk.TclError):
                root.update()
            time.sleep(0.01)
        self._dialogs.clear()
        root.destroy()
        del root
        gc.collect()  # Tk objects caught in reference cycles die on this thread too
        self._fail_pending()

    def _wakers_inside(self) -> int:
        with self._lock:
            return self._wakers

    @staticmethod
    def _log_callback_error(kind: type[BaseException], error: BaseException,
                            trace: Any) -> None:
        logger.error("a dialog callback failed", exc_info=(kind, error, trace))

    def _poll(self) -> None:
        if self._drain() and self._root is not None:
            self._root.after(_FALLBACK_POLL_MS, self._poll)

    def _drain(self) -> bool:
        """Run the queued work (on the Tk thread); False once asked to stop."""
        root = self._root
        if root is None:
            return False
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return True
            if item is None:
                root.quit()
                return False
            function, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(root))
            except BaseException as error:
                logger.exception("a dialog action failed")
                future.set_exception(error)

    def _wake(self) -> None:
        with self._lock:
            root = self._root
            if root is None:
                return
            self._wakers += 1
        try:
            # Not in its loop yet, or stopping: the poll catches up.
            with contextlib.suppress(RuntimeError, tk.TclError):
                root.after(0, self._drain)
        finally:
            del root  # before leaving: the Tk thread waits for this (see _main)
            with self._lock:
                self._wakers -= 1

    def _fail_pending(self) -> None:
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(DialogHostStopped("the dialog thread has stopped"))

    def call(self, function: Callable[[tk.Tk], T]) -> Future[T]:
        """Run `function(root)` on the Tk thread soon; returns a Future for its result."""
        self._ensure_started()
        future: Future[T] = Future()
        self._work.put((function, future))
        self._wake()
        return future

    def run(self, function: Callable[[tk.Tk], T], timeout_s: float = 30.0) -> T:
        """Run `function(root)` on the Tk thread and wait for its result."""
        if threading.current_thread() is self._thread:
            assert self._root is not None
            return function(self._root)
        return self.call(function).result(timeout=timeout_s)

    def show(self, kind: str, build: Callable[[tk.Tk], T]) -> Future[T]:
        """Open the dialog of `kind` built by `build(root)`, or raise the one already open."""
        def open_or_raise(root: tk.Tk) -> Any:
            existing = self._dialogs.get(kind)
            if existing is not None and existing.window.winfo_exists():
                existing.show()
                return existing
            dialog = build(root)
            self._dialogs[kind] = dialog
            return dialog
        return self.call(open_or_raise)

    def current(self, kind: str) -> Any:
        """The dialog of `kind` if one was opened and is still open, else None."""
        dialog = self._dialogs.get(kind)
        if dialog is None:
            return None
        try:
            return dialog if self.run(lambda _root: bool(dialog.window.winfo_exists())) else None
        except (DialogHostStopped, RuntimeError):
            return None

    @property
    def started(self) -> bool:
        """True once the Tk thread runs."""
        return self._ready.is_set() and self._start_error is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close every dialog and end the Tk thread."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        self._work.put(None)
        self._wake()
        thread.join(timeout_s)
