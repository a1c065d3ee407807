"""The gateway's two-tier session: a read-only SSO session and a brokerage (`/iserver`) session."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol


class Clock(Protocol):
    """Where the simulator reads the time; tests may pass a `ManualClock`."""

    def now(self) -> float: ...


class SystemClock:
    """Monotonic seconds for timeouts and pacing, like any server."""

    def now(self) -> float:
        """Seconds from an arbitrary start; never goes backwards."""
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to, so session and pacing tests need no sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current simulated time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        self._now += seconds


SERVER_INFO = {"serverName": "JifN19053", "serverVersion": "Build 10.25.0p, Oct 29, 2024"}
USER_ID = 41872139
USER_NAME = "vcdemo123"


@dataclass
class GatewaySession:
    """Login state; every method takes `now` so the caller decides which clock counts."""

    idle_timeout_s: float
    logged_in: bool = False  # the SSO session the browser login opens
    brokerage: bool = False  # authenticated to /iserver (the brokerage session)
    connected: bool = False
    competing: bool = False
    last_activity: float = 0.0
    login_time: float = 0.0
    session_token: str = ""
    iserver_accounts_seen: bool = False  # /iserver/accounts was called in this session
    portfolio_accounts_seen: bool = False  # /portfolio/accounts was called in this session
    orders_primed: bool = False  # the session's pre-flight orders call has been made
    lapsed_reason: str = ""
    # Scenario state (session_events.py): the nightly /iserver outage, a restarting gateway,
    # ssodh/init calls told to fail, and who holds the brokerage session while competing.
    iserver_down_until: float = 0.0
    unreachable_until: float = 0.0
    ssodh_failures_left: int = 0
    competing_platform: str = ""

    def login(self, now: float, brokerage: bool = True) -> None:
        """What the browser login does: an SSO session, normally with a brokerage session too."""
        self.logged_in, self.connected = True, True
        self.brokerage, self.competing = brokerage, False
        self.last_activity = self.login_time = now
        self.session_token = secrets.token_hex(16)
        self.iserver_accounts_seen = self.portfolio_accounts_seen = False
        self.orders_primed = False
        self.lapsed_reason = ""
        self.competing_platform = ""

    def logout(self, reason: str = "logged out") -> None:
        """End both tiers (the gateway's `/logout`, an idle timeout, or the control API)."""
        self.logged_in = self.brokerage = self.connected = self.competing = False
        self.iserver_accounts_seen = self.portfolio_accounts_seen = False
        self.orders_primed = False
        self.lapsed_reason = reason
        self.competing_platform = ""

    def expire_if_idle(self, now: float) -> None:
        """Drop the session when nothing came in for longer than the idle timeout."""
        if self.logged_in and now - self.last_activity > self.idle_timeout_s:
            self.logout(reason="idle timeout")

    def touch(self, now: float) -> None:
        """A request arrived: the session stays alive."""
        if self.logged_in:
            self.last_activity = now

    def make_competing(self) -> None:
        """Another platform logged in with the same user: the brokerage session is taken."""
        if self.logged_in:
            self.competing, self.brokerage = True, False

    def open_brokerage_session(self, compete: bool) -> None:
        """`/iserver/auth/ssodh/init`: (re)open the brokerage session if allowed."""
        if not (self.logged_in and self.connected):
            return
        if self.competing and not compete:
            return
        self.brokerage, self.competing = True, False

    def expires_in_ms(self, now: float) -> int:
        """Milliseconds until the idle timeout (the tickle's `ssoExpires`)."""
        remaining = self.idle_timeout_s - (now - self.last_activity) if self.logged_in else 0
        return max(int(remaining * 1000), 0)

    def auth_status(self) -> dict[str, Any]:
        """The body of `/iserver/auth/status` (also nested in the tickle answer)."""
        return {
            "authenticated": self.brokerage,
            "competing": self.competing,
            "connected": self.connected,
            "message": "",
            "MAC": "98:F2:B3:23:BF:A0",
            "serverInfo": dict(SERVER_INFO),
            "fail": "",
            "hardware_info": "a1b2c3d4|98:F2:B3:23:BF:A0",
        }

    def describe(self, now: float) -> dict[str, Any]:
        """The session as `/sim/session` reports it."""
        return {
            "logged_in": self.logged_in,
            "authenticated": self.brokerage,
            "connected": self.connected,
            "competing": self.competing,
            "idle_timeout_s": self.idle_timeout_s,
            "expires_in_s": self.expires_in_ms(now) / 1000,
            "lapsed_reason": self.lapsed_reason,
            "competing_platform": self.competing_platform,
            "iserver_down": self.iserver_down_until > 0,
        }
