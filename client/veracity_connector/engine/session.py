"""The gateway's session as the engine last saw it: tickled on schedule, re-checked when stale.

The tickle (`/tickle` through `GatewayClient.check_session`) keeps the session alive and says
whether it is usable; its answer decides whether a snapshot is worth taking and what the
heartbeat reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from veracity_connector.engine.timetable import Timetable
from veracity_connector.gateway import GatewayClient, SessionCheck
from veracity_connector.settings import Settings

logger = logging.getLogger(__name__)

FRESH_CHECK_S = 5.0  # a check this recent is good enough before a snapshot


class GatewaySession:
    """Checks the gateway's session and remembers the latest answer."""

    def __init__(self, gateway: GatewayClient, timetable: Timetable, settings: Settings,
                 clock: Callable[[], float], on_checked: Callable[[], None]) -> None:
        self._gateway = gateway
        self._timetable = timetable
        self._settings = settings
        self._clock = clock
        self._on_checked = on_checked
        self.latest: SessionCheck | None = None

    def check(self) -> SessionCheck:
        """Tickle the gateway now; plan the next tickle."""
        check = self._gateway.check_session()
        if self.latest is None or check.state != self.latest.state:
            logger.info("gateway session: %s", check.state)
        self.latest = check
        self._timetable.next_tickle = self._clock() + self._settings.tickle_interval_s
        self._on_checked()  # show the gateway's state before a snapshot that may take a while
        return check

    def fresh_or_checked(self) -> SessionCheck:
        """The latest check if it is a few seconds old at most, else a new one."""
        # A snapshot taken on a dead session would only produce errors.
        if self.latest is not None and self._timetable.next_tickle - self._clock() > \
                self._settings.tickle_interval_s - FRESH_CHECK_S:
            return self.latest
        return self.check()

    def latest_or_checked(self) -> SessionCheck:
        """The latest check, or a new one if there was none yet."""
        return self.latest or self.check()
