"""The tray's update menu items: check now, install, and the quiet daily check.

A found update is remembered (the menu shows "Install version …"); the person is asked before
anything is installed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from veracity_connector.dialogs import MessageDialog
from veracity_connector.settings import Settings
from veracity_connector.tray.presentation import Notification, update_notification
from veracity_connector.updates import AvailableUpdate, UpdateChecker, UpdateCheckError
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)

UPDATE_CHECK_FIRST_S = 120.0  # not at start-up: let the connector settle first
UPDATE_CHECK_EVERY_S = 24 * 3600.0
INSTALL_ANSWER = "install"


class UpdateActions:
    """Checks for updates and installs the one found, on the tray's worker thread."""

    def __init__(self, *, make_checker: Callable[[], UpdateChecker],
                 open_url: Callable[[str], None],
                 background: Callable[[Callable[[], Any]], Future[Any]],
                 tell: Callable[[str, str], None],
                 show_dialog: Callable[[str, Callable[[Any], Any]], Future[Any]],
                 notify: Callable[[Notification], None]) -> None:
        self._make_checker = make_checker
        self._open_url = open_url
        self._background = background
        self._tell = tell
        self._show_dialog = show_dialog
        self._notify = notify
        self.available: AvailableUpdate | None = None

    def check_now(self) -> None:
        """Ask the server; say what was found."""
        self._background(self.check)

    def check(self, quiet: bool = False) -> None:
        """Check for a newer version; `quiet`: only a notification, and only if there is one."""
        checker = self._make_checker()
        try:
            update = checker.check()
        except UpdateCheckError as error:
            if not quiet:
                self._tell("Check for updates", str(error))
            return
        self.available = update
        if update is None:
            if not quiet:
                self._tell("Check for updates",
                           f"You have the latest version ({checker.current_version}).")
            return
        self._notify(update_notification(update.version))
        if not quiet:
            self._show_dialog("question", lambda root: MessageDialog(
                root, "Update available",
                f"Version {update.version} is available (you have {checker.current_version})."
                + (f"\n\n{update.notes}" if update.notes else ""),
                buttons=(("Install now", INSTALL_ANSWER), ("Later", "later")),
                on_answer=self._question_answered))

    def _question_answered(self, answer: str) -> None:
        if answer == INSTALL_ANSWER:
            self.install()

    def install(self) -> None:
        """Install the update found by the last check."""
        update = self.available
        if update is None:
            return

        def install() -> None:
            checker = self._make_checker()
            try:
                self._tell("Install update", checker.apply(update, self._open_url))
            except UpdateCheckError as error:
                self._tell("Install update", str(error))
        self._background(install)

    def run_checks(self, stop_event: threading.Event,
                   first_after_s: float = UPDATE_CHECK_FIRST_S,
                   every_s: float = UPDATE_CHECK_EVERY_S) -> threading.Thread:
        """Check quietly in a daemon thread until `stop_event` is set."""
        def loop() -> None:
            wait = first_after_s
            while not stop_event.wait(wait):
                wait = every_s
                try:
                    self.check(quiet=True)
                except Exception:
                    logger.exception("the background update check failed")
        thread = threading.Thread(target=loop, name="update-checks", daemon=True)
        thread.start()
        return thread


def default_update_checker(settings: Settings) -> UpdateChecker:
    """An update checker for the configured Veracity server and this connector's version."""
    return UpdateChecker(settings.veracity_url, connector_version())
