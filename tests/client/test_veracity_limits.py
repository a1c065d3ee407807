"""Veracity's limits as the connector sees them: the limit named on the error, and a state
that names it (a 429 keeps the snapshot in the outbox; a 413 is a refusal naming the limit)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.server_fixtures import start_live_server
from veracity_connector.engine.delivery import RefusalNotice
from veracity_connector.engine.outcome import EngineFacts, person_facing_status
from veracity_connector.gateway import SessionCheck
from veracity_connector.state import ConnectorState, ConnectorStatus, GatewayState
from veracity_connector.veracity_api import RequestRejected, VeracityClient, VeracityRateLimited

EMAIL = "limits@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator:
    with start_live_server(tmp_path_factory.mktemp("veracity"), env={
            "VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE": "2",
            "VERACITY_LIMIT_POSITIONS_PER_SNAPSHOT": "3"}, workers=1) as live:
        live.create_user(EMAIL)
        yield live


def _snapshot(positions: int = 0) -> dict:
    return {"snapshot_id": str(uuid.uuid4()), "taken_at": datetime.now(UTC).isoformat(),
            "accounts": [{"account_id": "U1", "base_currency": "USD",
                          "net_liquidation": "1000.10", "cash": "10.01",
                          "positions": [{"conid": number, "quantity": "1"}
                                        for number in range(positions)],
                          "stop_orders": []}]}


def test_too_many_positions_is_a_refusal_naming_the_limit(server) -> None:
    _, key = server.pair(EMAIL)
    with pytest.raises(RequestRejected) as raised:
        VeracityClient(server.base_url).send_snapshot(key, _snapshot(positions=4))
    assert (raised.value.status, raised.value.code) == (413, "limit_exceeded")
    assert raised.value.limit == "positions_per_snapshot"
    notice = RefusalNotice(raised.value.status, raised.value.code, raised.value.message,
                           raised.value.limit)
    assert "limit 'positions per snapshot'" in notice.sentence()


def test_too_many_snapshots_a_minute_is_rate_limited_naming_the_limit(server) -> None:
    _, key = server.pair(EMAIL)
    client = VeracityClient(server.base_url)
    client.send_snapshot(key, _snapshot())
    client.send_snapshot(key, _snapshot())
    with pytest.raises(VeracityRateLimited) as raised:
        client.send_snapshot(key, _snapshot())
    assert raised.value.limit == "snapshots_per_minute"
    assert 0 < raised.value.retry_after_s <= 60


def test_a_limit_holding_delivery_back_is_the_state_and_names_the_limit() -> None:
    facts = EngineFacts(
        credential_problem="", unexpected_error=False, veracity_configured=True, paired=True,
        revoked_notice=False, session=SessionCheck(GatewayState.OK, "Logged in."),
        veracity_down_message="",
        limit_message="Veracity's limit 'snapshots per minute' is reached (…); snapshots are "
                      "kept and sent again in 42 s")
    status = person_facing_status(ConnectorStatus(), facts, {})
    assert status.state is ConnectorState.VERACITY_UNREACHABLE
    assert "'snapshots per minute'" in status.message and "Nothing is lost" in status.next_step
