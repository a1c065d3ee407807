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
from veracity_connector.gateway.session import SessionCheck, check_session
from veracity_connector.gateway.transport import GatewayAddress, GatewayTransport

__all__ = ["GatewayClient", "GatewayError", "Pacer", "SessionCheck"]


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
        """Tickle and classify the session; a fresh session re-arms the orders quirk."""
        check = check_session(self.transport)
        if check.ok and not self._last_session_ok:
            self.orders.new_session()
        self._last_session_ok = check.ok
        return check

    def close(self) -> None:
        """Release the HTTP connections."""
        self.transport.close()
