"""Keeps the connector's gateway URL in step with listenPort/listenSsl in conf.yaml."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from veracity_connector.launcher.conf_file import (
    GatewayConfError,
    ListenSettings,
    read_listen_settings,
)

logger = logging.getLogger(__name__)


class ConfFollower:
    """Re-reads conf.yaml when it changes and reports new listen settings once per change."""

    def __init__(self, conf_path: Callable[[], Path | None],
                 on_change: Callable[[ListenSettings], None]) -> None:
        self._conf_path = conf_path  # a function: the person may pick another folder any time
        self._on_change = on_change
        self._last_seen: tuple[Path, ListenSettings] | None = None
        self.last_error: str = ""

    def check_once(self) -> ListenSettings | None:
        """Read conf.yaml; call `on_change` if port or TLS differ from last time."""
        path = self._conf_path()
        if path is None:
            return None
        try:
            listen = read_listen_settings(path)
        except GatewayConfError as error:
            if str(error) != self.last_error:
                logger.warning("%s", error)
            self.last_error = str(error)
            return None
        self.last_error = ""
        if self._last_seen != (path, listen):
            self._last_seen = (path, listen)
            self._on_change(listen)
        return listen

    def run(self, stop: threading.Event, interval_s: float = 5.0) -> None:
        """Check every `interval_s` until `stop` is set."""
        self.check_once()
        while not stop.wait(interval_s):
            try:
                self.check_once()
            except Exception:
                logger.exception("following conf.yaml failed; trying again")
