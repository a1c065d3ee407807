"""The gateway session: what the gateway says about it, and the one call that reopens it.

`/tickle` keeps the session from timing out (~6 minutes idle) and carries the brokerage
session's auth status; `probe_session` turns its answer into a `SessionProbe`:

* nothing answers → unreachable; 5xx / 429 / garbage → failed;
* 401 or ``{"error": "no session"}`` → no session (only a browser login helps);
* otherwise the flags: ``authenticated``, ``connected``, ``competing``.

`open_brokerage_session` is `/iserver/auth/ssodh/init` with ``compete: false``: it opens the
brokerage session on top of a live SSO session, and never takes it from another platform (TWS,
IBKR Mobile): that would log the person out there. What to do with the answers over time is
the guardian's job (engine/guardian.py); `check_session` is the one-shot form for `doctor`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from veracity_connector.gateway.errors import GatewayError
from veracity_connector.gateway.transport import GatewayTransport
from veracity_connector.state import GatewayState

logger = logging.getLogger(__name__)

# compete: false — never kick the person's own session on another platform (ibkr-session.md 4).
SSODH_INIT_BODY = {"publish": True, "compete": False}

COMPETING_MESSAGE = "IBKR session in use on another device — syncing resumes when it is free"
MESSAGES = {
    GatewayState.OK: "Logged in.",
    GatewayState.UNAUTHENTICATED: "The gateway is not logged in: open {url} in a browser and "
                                  "log in.",
    GatewayState.COMPETING: COMPETING_MESSAGE,
}


class ProbeKind(StrEnum):
    """How the gateway answered."""

    ANSWERED = "answered"  # a session exists; see the flags
    NO_SESSION = "no_session"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


@dataclass(frozen=True)
class SessionProbe:
    """One answer about the session (a tickle, or ssodh/init's auth status)."""

    kind: ProbeKind
    authenticated: bool = False
    connected: bool = False
    competing: bool = False
    session_token: str = ""
    message: str = ""  # the failure's text, for a person
    error_state: GatewayState = GatewayState.ERROR  # what a failure means for the heartbeat

    @property
    def usable(self) -> bool:
        """True when snapshots can be taken."""
        return (self.kind is ProbeKind.ANSWERED and self.authenticated and self.connected
                and not self.competing)


@dataclass(frozen=True)
class SessionCheck:
    """The gateway session's state and a message for a person.

    `waiting`: not usable, but expected back without the person (a competing session elsewhere,
    a brokerage session being reopened, IBKR's nightly reset); `next_step` overrides the
    state's default advice.
    """

    state: GatewayState
    message: str
    waiting: bool = False
    next_step: str = ""

    @property
    def ok(self) -> bool:
        """True when snapshots can be taken."""
        return self.state is GatewayState.OK


def probe_session(transport: GatewayTransport) -> SessionProbe:
    """Tickle the gateway (keeps the session alive) and read what it says about the session."""
    try:
        tickle = transport.request("POST", "/tickle")
        if not isinstance(tickle, dict) or tickle.get("error"):
            # 200 {"error": "no session"}: the gateway runs, nobody is logged in.
            return SessionProbe(ProbeKind.NO_SESSION)
        auth = (tickle.get("iserver") or {}).get("authStatus")
        if not isinstance(auth, dict):
            auth = _auth_status(transport)
        return _from_auth_status(auth, str(tickle.get("session") or ""))
    except GatewayError as error:
        return _from_error(error)


def open_brokerage_session(transport: GatewayTransport) -> SessionProbe:
    """`ssodh/init` with compete false; its answer is the auth status (maybe with `fail`)."""
    try:
        answer = transport.request("POST", "/iserver/auth/ssodh/init", json_body=SSODH_INIT_BODY)
    except GatewayError as error:
        return _from_error(error)
    if not isinstance(answer, dict):
        return SessionProbe(ProbeKind.FAILED, message="ssodh/init answered no auth status")
    if answer.get("fail"):
        logger.info("ssodh/init failed: %s", str(answer.get("fail"))[:200])
    return _from_auth_status(answer, "")


def check_session(transport: GatewayTransport, *, open_brokerage: bool = True) -> SessionCheck:
    """Probe once and, if only the brokerage session is missing, try ssodh/init once."""
    probe = probe_session(transport)
    if (open_brokerage and probe.kind is ProbeKind.ANSWERED and not probe.usable
            and not probe.competing):
        logger.info("gateway connected but not authenticated: asking for a brokerage session")
        opened = open_brokerage_session(transport)
        probe = opened if opened.kind is ProbeKind.ANSWERED else probe
    return plain_check(probe, transport.address.base_url)


def plain_check(probe: SessionProbe, url: str) -> SessionCheck:
    """The check a probe means on its own (no guardian history)."""
    if probe.kind in (ProbeKind.UNREACHABLE, ProbeKind.FAILED):
        return SessionCheck(probe.error_state, probe.message)
    if probe.usable:
        return SessionCheck(GatewayState.OK, MESSAGES[GatewayState.OK])
    if probe.competing:
        return SessionCheck(GatewayState.COMPETING, COMPETING_MESSAGE, waiting=True)
    return SessionCheck(GatewayState.UNAUTHENTICATED,
                        MESSAGES[GatewayState.UNAUTHENTICATED].format(url=url))


def _auth_status(transport: GatewayTransport) -> dict[str, Any]:
    body = transport.request("POST", "/iserver/auth/status")
    return body if isinstance(body, dict) else {}


def _from_auth_status(auth: dict[str, Any], session_token: str) -> SessionProbe:
    return SessionProbe(ProbeKind.ANSWERED, authenticated=bool(auth.get("authenticated")),
                        connected=bool(auth.get("connected")),
                        competing=bool(auth.get("competing")), session_token=session_token)


def _from_error(error: GatewayError) -> SessionProbe:
    if error.gateway_state is GatewayState.UNAUTHENTICATED:
        return SessionProbe(ProbeKind.NO_SESSION, message=error.message)
    kind = (ProbeKind.UNREACHABLE if error.gateway_state is GatewayState.UNREACHABLE
            else ProbeKind.FAILED)
    return SessionProbe(kind, message=error.message, error_state=error.gateway_state)
