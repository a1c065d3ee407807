"""The session guardian: keep the gateway session alive with the fewest browser (2FA) logins.

Driven by the gateway's answers (`SessionProbe`) and a monotonic clock (the wall clock only
places IBKR's reset windows); the policy follows ibkr-session.md sections 8 and 9:

* tickle every `tickle_interval_s` (60 s): the tickle keeps the session alive and says its state;
* connected but the brokerage session closed (after a reset, an idle spell, a competing session
  that ended): `ssodh/init` with ``compete: false``, at most `MAX_SSODH_ATTEMPTS` times per
  incident with growing waits (`SSODH_BACKOFF_S`) — only then ask for a browser login;
* `revalidate()` after a sleep/resume or clock jump (the engine's gap detector): check at once
  and start a fresh incident, since the sleep itself may have closed the brokerage session;
* IBKR's nightly reset (~01:00 in New York, Zug and Hong Kong) and Saturday-evening maintenance:
  gateway errors and a closed brokerage session inside those windows raise no alarm; recovery
  goes on (one `ssodh/init` every `MAINTENANCE_RETRY_S` once the attempts are spent) and after
  the window a fresh set of attempts runs before a login is asked for. A session that is gone
  (401, "no session") needs a login whatever the hour: waiting cannot bring it back;
* a competing session (the person logged in on TWS, IBKR Mobile, the website): step aside —
  never ``compete: true``, no `ssodh/init` while it lasts; heartbeats go on reporting
  ``competing``; when it ends, the brokerage session is reopened without a login;
* never `/logout`, never `/iserver/reauthenticate`, no login endpoint: a browser login is the
  person's, asked for once per incident.

Phases and what they mean for the heartbeat (`GatewayState`) and the person:

===============  ==================  ==================================================
phase            heartbeat state     the person sees
===============  ==================  ==================================================
ok               ok                  syncing
recovering       error               "Reconnecting…" (waiting; nothing to do)
maintenance      error               "IBKR's nightly reset…" (waiting; nothing to do)
competing        competing           "IBKR session in use on another device…" (waiting)
login_needed     unauthenticated     "open the gateway and log in" (the only alarm)
unreachable      unreachable         the gateway is not running
error            error               the gateway answers with errors
===============  ==================  ==================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from veracity_connector.gateway import GatewayClient, SessionCheck, SessionProbe
from veracity_connector.gateway.session import COMPETING_MESSAGE, MESSAGES, ProbeKind
from veracity_connector.state import GatewayState

if TYPE_CHECKING:
    from veracity_connector.engine.timetable import Timetable

logger = logging.getLogger(__name__)

FRESH_CHECK_S = 5.0  # a check this recent is good enough before a snapshot
MAX_SSODH_ATTEMPTS = 5
SSODH_BACKOFF_S = (15.0, 30.0, 60.0, 120.0)  # waits after the 1st, 2nd... failed attempt
MAINTENANCE_RETRY_S = 300.0  # inside a reset window: one more ssodh/init this often

# IBKR resets /iserver at about 01:00 local time in each region (ibkr-session.md section 3). The
# connector does not know the region of the person's server, so each window counts.
RESET_ZONES = ("America/New_York", "Europe/Zurich", "Asia/Hong_Kong")
RESET_WINDOW_MINUTES = (50, 100)  # 00:50 to 01:40 local
MAINTENANCE_ZONE = "America/New_York"  # Saturday evening maintenance, from 18:00 until the reset

COMPETING_NEXT_STEP = ("Nothing to do. To sync now, log out of IBKR on the other device (TWS, "
                       "IBKR Mobile, the website); the connector never takes the session back "
                       "from it.")
WAITING_NEXT_STEP = "Nothing to do: the connector reconnects by itself."


class GuardianPhase(StrEnum):
    """Where the guardian stands with the gateway's session."""

    OK = "ok"
    RECOVERING = "recovering"
    MAINTENANCE = "maintenance"
    COMPETING = "competing"
    LOGIN_NEEDED = "login_needed"
    UNREACHABLE = "unreachable"
    ERROR = "error"


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # no tz database (Windows without tzdata)
        return None


def in_reset_window(wall: float, zones: tuple[str, ...] = RESET_ZONES) -> bool:
    """True inside a regional ~01:00 reset or the Saturday-evening maintenance (epoch `wall`)."""
    start, end = RESET_WINDOW_MINUTES
    for name in zones:
        zone = _zone(name)
        if zone is None:
            continue
        local = datetime.fromtimestamp(wall, zone)
        if start <= local.hour * 60 + local.minute < end:
            return True
    zone = _zone(MAINTENANCE_ZONE)
    if zone is not None:
        local = datetime.fromtimestamp(wall, zone)
        if (local.weekday() == 5 and local.hour >= 18) or (
                local.weekday() == 6 and local.hour * 60 + local.minute < end):
            return True
    return False


class SessionGuardian:
    """Checks the gateway's session on schedule and does what recovers it without a person."""

    def __init__(self, gateway: GatewayClient, *, tickle_interval_s: float,
                 clock: Callable[[], float], wall_clock: Callable[[], float],
                 timetable: Timetable | None = None,
                 on_checked: Callable[[], None] | None = None,
                 reset_zones: tuple[str, ...] = RESET_ZONES) -> None:
        self._gateway = gateway
        self._interval = tickle_interval_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._timetable = timetable
        self._on_checked = on_checked
        self._reset_zones = reset_zones
        self.latest: SessionCheck | None = None
        self.phase: GuardianPhase | None = None
        self.next_check_at = clock()
        self._checked_at = float("-inf")
        # The current incident: a brokerage session to reopen.
        self._attempts = 0
        self._next_attempt_at = float("-inf")
        self._incident_token = ""
        self._exhausted_in_window = False
        # Counted for tests and the benchmark.
        self.ssodh_calls = 0
        self.login_requests = 0

    # --- what the engine calls --------------------------------------------------------------

    def check(self) -> SessionCheck:
        """Tickle now, do what the answer calls for, plan the next check."""
        now = self._clock()
        probe = self._gateway.probe_session()
        phase, check = self._decide(probe, now)
        if phase is GuardianPhase.LOGIN_NEEDED and self.phase is not GuardianPhase.LOGIN_NEEDED:
            self.login_requests += 1
        if phase is not self.phase:
            logger.info("gateway session: %s (%s)", phase, check.message)
        self.phase, self.latest, self._checked_at = phase, check, now
        self._gateway.session_usable(check.ok)
        # Planned from when the tickle went out, not from when this check began: the gateway
        # pacer may have held it (IBKR's 1 /tickle a second), and an interval counted from
        # before that wait would make every later tickle wait again, eating the delivery's time.
        self._plan(phase, self._clock())
        if self._on_checked is not None:
            self._on_checked()  # show the gateway's state before a snapshot that may be long
        return check

    def revalidate(self) -> None:
        """After a sleep/resume or a clock jump: check at once, as a fresh incident."""
        self._attempts, self._next_attempt_at = 0, float("-inf")
        self._exhausted_in_window = False
        self._plan_at(self._clock())

    def fresh_or_checked(self) -> SessionCheck:
        """The latest check if it is a few seconds old at most, else a new one."""
        # A snapshot taken on a dead session would only produce errors.
        if self.latest is not None and self._clock() - self._checked_at <= FRESH_CHECK_S:
            return self.latest
        return self.check()

    def latest_or_checked(self) -> SessionCheck:
        """The latest check, or a new one if there was none yet."""
        return self.latest or self.check()

    # --- the policy ---------------------------------------------------------------------------

    def _decide(self, probe: SessionProbe, now: float) -> tuple[GuardianPhase, SessionCheck]:
        in_window = in_reset_window(self._wall_clock(), self._reset_zones)
        if self._exhausted_in_window and not in_window:
            # The reset is over: its failed attempts do not count against a fresh try.
            self._attempts, self._next_attempt_at = 0, float("-inf")
            self._exhausted_in_window = False
        if probe.kind is ProbeKind.UNREACHABLE:
            return GuardianPhase.UNREACHABLE, SessionCheck(probe.error_state, probe.message)
        if probe.kind is ProbeKind.FAILED:
            if in_window:
                return self._maintenance()
            return GuardianPhase.ERROR, SessionCheck(probe.error_state, probe.message)
        if probe.kind is ProbeKind.NO_SESSION:
            # Only a browser login makes a session, reset window or not: waiting cannot help.
            return self._login_needed()
        if probe.usable:
            self._new_incident(probe.session_token)
            return GuardianPhase.OK, SessionCheck(GatewayState.OK, MESSAGES[GatewayState.OK])
        if probe.competing:
            # Step aside; once the other session ends, reopening is a new incident.
            self._new_incident(probe.session_token)
            return GuardianPhase.COMPETING, SessionCheck(
                GatewayState.COMPETING, COMPETING_MESSAGE, waiting=True,
                next_step=COMPETING_NEXT_STEP)
        return self._recover(probe, now, in_window)

    def _recover(self, probe: SessionProbe, now: float, in_window: bool
                 ) -> tuple[GuardianPhase, SessionCheck]:
        if probe.session_token and probe.session_token != self._incident_token:
            self._new_incident(probe.session_token)  # a new login: a fresh set of attempts
        exhausted = self._attempts >= MAX_SSODH_ATTEMPTS
        if exhausted and not self._exhausted_in_window and self.phase is GuardianPhase.LOGIN_NEEDED:
            # The person was asked once for this incident: no more tries, no change of mind.
            return self._login_needed(self._gave_up_message())
        if now >= self._next_attempt_at and (not exhausted or in_window):
            opened = self._gateway.open_brokerage_session()
            self._attempts += 1
            self.ssodh_calls += 1
            if opened.usable:
                logger.info("brokerage session reopened with ssodh/init (attempt %d)",
                            self._attempts)
                self._new_incident(probe.session_token)
                return GuardianPhase.OK, SessionCheck(GatewayState.OK,
                                                      MESSAGES[GatewayState.OK])
            if opened.competing:
                return GuardianPhase.COMPETING, SessionCheck(
                    GatewayState.COMPETING, COMPETING_MESSAGE, waiting=True,
                    next_step=COMPETING_NEXT_STEP)
            exhausted = self._attempts >= MAX_SSODH_ATTEMPTS
            if exhausted and in_window:
                self._exhausted_in_window = True
                self._next_attempt_at = now + MAINTENANCE_RETRY_S
            else:
                backoff = SSODH_BACKOFF_S[min(self._attempts, len(SSODH_BACKOFF_S)) - 1]
                self._next_attempt_at = now + backoff
        if in_window:
            return self._maintenance()
        if exhausted:
            return self._login_needed(self._gave_up_message())
        return GuardianPhase.RECOVERING, SessionCheck(
            GatewayState.ERROR,
            f"Reconnecting to IBKR's brokerage session (try {self._attempts} of "
            f"{MAX_SSODH_ATTEMPTS}); no login needed yet.", waiting=True,
            next_step=WAITING_NEXT_STEP)

    def _gave_up_message(self) -> str:
        url = self._gateway.transport.address.base_url
        return (f"The IBKR brokerage session did not reopen after {self._attempts} tries: open "
                f"{url} in a browser and log in again.")

    def _maintenance(self) -> tuple[GuardianPhase, SessionCheck]:
        return GuardianPhase.MAINTENANCE, SessionCheck(
            GatewayState.ERROR, "IBKR's nightly reset or weekly maintenance: syncing resumes "
            "by itself after it.", waiting=True,
            next_step="Nothing to do; if a login is needed afterwards, the connector says so.")

    def _login_needed(self, message: str = "") -> tuple[GuardianPhase, SessionCheck]:
        url = self._gateway.transport.address.base_url
        return GuardianPhase.LOGIN_NEEDED, SessionCheck(
            GatewayState.UNAUTHENTICATED,
            message or MESSAGES[GatewayState.UNAUTHENTICATED].format(url=url))

    def _new_incident(self, token: str) -> None:
        self._attempts, self._next_attempt_at = 0, float("-inf")
        self._incident_token = token
        self._exhausted_in_window = False

    # --- when to look again ---------------------------------------------------------------------

    def _plan(self, phase: GuardianPhase, now: float) -> None:
        due = now + self._interval
        if (phase in (GuardianPhase.RECOVERING, GuardianPhase.MAINTENANCE)
                and self._next_attempt_at > now):
            due = min(due, self._next_attempt_at)
        self._plan_at(due)

    def _plan_at(self, moment: float) -> None:
        self.next_check_at = moment
        if self._timetable is not None:
            self._timetable.next_tickle = moment
