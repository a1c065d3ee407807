"""The positions-cache invalidation is best effort: a failed POST costs freshness, not data."""

from __future__ import annotations

import pytest

from veracity_connector.gateway.errors import (
    GatewayError,
    GatewayNotAuthenticated,
    GatewayProtocolError,
    GatewayServerError,
)
from veracity_connector.gateway.portfolio import PortfolioReader

ROW = {"conid": 1, "position": 2}


class Transport:
    def __init__(self, invalidate_error: GatewayError) -> None:
        self.invalidate_error = invalidate_error

    def request(self, method: str, path: str) -> object:
        if path.endswith("/invalidate"):
            raise self.invalidate_error
        return [ROW]


@pytest.mark.parametrize("error", [GatewayProtocolError("not JSON"),
                                   GatewayServerError("HTTP 503", status=503)])
def test_a_failed_cache_invalidation_still_reads_the_positions(error):
    reader = PortfolioReader(Transport(error))  # type: ignore[arg-type]
    assert reader.positions("U1") == [ROW]


def test_a_lost_session_during_invalidation_still_fails_the_read():
    reader = PortfolioReader(Transport(GatewayNotAuthenticated("no session")))  # type: ignore[arg-type]
    with pytest.raises(GatewayNotAuthenticated):
        reader.positions("U1")
