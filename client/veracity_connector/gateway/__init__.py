"""Client for the IBKR Client Portal Gateway: one paced, loopback-only session.

`GatewayClient` composes the small modules by API area: `transport` (the request chokepoint),
`pacing` (IBKR's limits, 429 back-off), `session` (tickle, auth state, ssodh/init),
`portfolio` (accounts, summary, position pages) and `orders` (live stop-type orders).
"""

from __future__ import annotations

from pathlib import Path

from veracity_connector.gateway.errors import GatewayError
from veracity_connector.gateway.orders import OrdersReader
from veracity_connector.gateway.pacing import Pacer
from veracity_connector.gateway.portfolio import PortfolioReader
from veracity_connector.gateway.session import (
    SessionCheck,
    SessionProbe,
    check_session,
    open_brokerage_session,
    probe_session,
)
from veracity_connector.gateway.transport import GatewayAddress, GatewayTransport

__all__ = ["GatewayClient", "GatewayError", "Pacer", "SessionCheck", "SessionProbe"]


class GatewayClient:
    """Everything the connector asks the gateway, through one paced transport."""

    def __init__(self, address: GatewayAddress, pacer: Pacer, *, timeout_s: float = 10.0) -> None:
        self.transport = GatewayTransport(address, pacer, timeout_s=timeout_s)
        self.portfolio = PortfolioReader(self.transport)
        self.orders = OrdersReader(self.transport)
        self._last_session_ok = False

    @classmethod
    def for_url(cls, url: str, *, pacer: Pacer | None = None, allowed_host: str | None = None,
                ca_file: Path | None = None, timeout_s: float = 10.0) -> GatewayClient:
        """Build a client for `url` (validated: loopback unless explicitly allowed)."""
        address = GatewayAddress.parse(url, allowed_host=allowed_host, ca_file=ca_file)
        return cls(address, pacer or Pacer(), timeout_s=timeout_s)

    @property
    def port(self) -> int:
        """The gateway's port (for the heartbeat)."""
        return self.transport.address.port

    def check_session(self) -> SessionCheck:
        """Tickle and classify the session, with at most one ssodh/init (one-shot callers)."""
        check = check_session(self.transport)
        self.session_usable(check.ok)
        return check

    def probe_session(self) -> SessionProbe:
        """Tickle and read the session's flags (the guardian decides what follows)."""
        return probe_session(self.transport)

    def open_brokerage_session(self) -> SessionProbe:
        """`ssodh/init` with compete false."""
        return open_brokerage_session(self.transport)

    def session_usable(self, ok: bool) -> None:
        """Tell the client whether the session is usable: a fresh one re-arms the orders quirk."""
        if ok and not self._last_session_ok:
            self.orders.new_session()
        self._last_session_ok = ok

    def close(self) -> None:
        """Release the HTTP connections."""
        self.transport.close()
