"""The gateway session: keep it alive and say what state it is in.

`/tickle` keeps the session from timing out (~6 minutes idle) and carries the brokerage
session's auth status. The state mapping (the heartbeat's `gateway.state`):

* nothing answers → ``unreachable``; 5xx / 429 / garbage → ``error``;
* 401, ``{"error": "no session"}`` or not connected → ``unauthenticated`` (log in at the gateway);
* ``competing: true`` → ``competing`` (another IBKR platform holds the brokerage session; we do
  not take it back ourselves: that would log the person out of TWS or the mobile app);
* connected but not authenticated → we ask for a brokerage session with `ssodh/init` (what the
  gateway's own page does after login) and look again;
* authenticated, connected, not competing → ``ok``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from veracity_connector.gateway.errors import GatewayError
from veracity_connector.gateway.transport import GatewayTransport
from veracity_connector.state import GatewayState

logger = logging.getLogger(__name__)

SSODH_INIT_BODY = {"publish": True, "compete": True}

MESSAGES = {
    GatewayState.OK: "Logged in.",
    GatewayState.UNAUTHENTICATED: "The gateway is not logged in: open {url} in a browser and "
                                  "log in.",
    GatewayState.COMPETING: "Another IBKR session (TWS, the mobile app or another browser) holds"
                            " the brokerage session: close it, or log in again at {url}.",
}


@dataclass(frozen=True)
class SessionCheck:
    """The gateway session's state and a message for a person."""

    state: GatewayState
    message: str

    @property
    def ok(self) -> bool:
        """True when snapshots can be taken."""
        return self.state is GatewayState.OK


def check_session(transport: GatewayTransport, *, open_brokerage_session: bool = True
                  ) -> SessionCheck:
    """Tickle the gateway and classify its session (opening a brokerage session if needed)."""
    url = transport.address.base_url
    try:
        tickle = transport.request("POST", "/tickle")
        if not isinstance(tickle, dict) or tickle.get("error"):
            # 200 {"error": "no session"}: the gateway runs, nobody is logged in.
            return _unauthenticated(url)
        auth = (tickle.get("iserver") or {}).get("authStatus")
        if not isinstance(auth, dict):
            auth = _auth_status(transport)
        check = _from_auth_status(auth, url)
        if (check.state is GatewayState.UNAUTHENTICATED and open_brokerage_session
                and auth.get("connected")):
            logger.info("gateway connected but not authenticated: asking for a brokerage session")
            transport.request("POST", "/iserver/auth/ssodh/init", json_body=SSODH_INIT_BODY)
            check = _from_auth_status(_auth_status(transport), url)
        return check
    except GatewayError as error:
        if error.gateway_state is GatewayState.UNAUTHENTICATED:
            return _unauthenticated(url)
        return SessionCheck(error.gateway_state, error.message)


def _auth_status(transport: GatewayTransport) -> dict[str, Any]:
    body = transport.request("POST", "/iserver/auth/status")
    return body if isinstance(body, dict) else {}


def _from_auth_status(auth: dict[str, Any], url: str) -> SessionCheck:
    if auth.get("competing"):
        message = MESSAGES[GatewayState.COMPETING].format(url=url)
        return SessionCheck(GatewayState.COMPETING, message)
    if auth.get("authenticated") and auth.get("connected"):
        return SessionCheck(GatewayState.OK, MESSAGES[GatewayState.OK])
    return _unauthenticated(url)


def _unauthenticated(url: str) -> SessionCheck:
    return SessionCheck(GatewayState.UNAUTHENTICATED,
                        MESSAGES[GatewayState.UNAUTHENTICATED].format(url=url))
