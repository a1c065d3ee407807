"""Gateway failures as exceptions that carry the session state and a message for a person."""

from __future__ import annotations

from veracity_connector.state import GatewayState


class GatewayError(Exception):
    """A gateway request failed; `gateway_state` says what it means for the session."""

    gateway_state: GatewayState = GatewayState.ERROR

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GatewayUnreachable(GatewayError):
    """Nothing answers at the gateway's address (not started, wrong port, dropped connection)."""

    gateway_state = GatewayState.UNREACHABLE


class GatewayNotAuthenticated(GatewayError):
    """The gateway runs but nobody is logged in (401 "not authenticated" / "no session")."""

    gateway_state = GatewayState.UNAUTHENTICATED


class GatewayNoBridge(GatewayError):
    """`/iserver/*` answered 400 "no bridge": there is no brokerage session (yet)."""

    gateway_state = GatewayState.UNAUTHENTICATED


class GatewayRateLimited(GatewayError):
    """The gateway answered 429: we are in IBKR's penalty box; nothing is sent for a while."""


class GatewayAccessDenied(GatewayError):
    """The gateway refused us by address (its `ips.allow` list in root/conf.yaml)."""


class GatewayServerError(GatewayError):
    """The gateway answered 5xx."""


class GatewayProtocolError(GatewayError):
    """The gateway answered something we cannot read (not JSON, or an unexpected shape)."""


class GatewayConfigurationError(ValueError):
    """The gateway URL or TLS settings are not acceptable (e.g. a non-loopback host)."""
