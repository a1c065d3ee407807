"""ibind (a third-party gateway client from PyPI), unmodified, against the simulator.

Pacing stays ON: the simulator runs on a manual clock and the test advances it between calls
as a well-behaved client would wait, so ibind (which has no rate limiter) is never refused.
"""

from __future__ import annotations

import os

import pytest

# ibind reads these when imported: no log files in /tmp, no console noise.
os.environ.setdefault("IBIND_LOG_TO_FILE", "false")
os.environ.setdefault("IBIND_LOG_TO_CONSOLE", "false")

import ibind  # after the environment it reads at import


@pytest.fixture
def sim(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True, idle_timeout_s=360, penalty_box_s=600)
    sim.control.login()
    return sim


@pytest.fixture
def client(sim):
    client = ibind.IbkrClient(url=f"{sim.api_url}/", cacert=str(sim.certificate_path),
                              auto_register_shutdown=False, timeout=10, max_retries=0)
    yield client
    client.close()


def test_ibind_reads_everything_and_matches_sim_state(sim, client):
    def paced():
        sim.clock.advance(5.1)  # past every per-endpoint limit that a single call can hit

    assert client.check_auth_status() is True
    paced()
    assert client.check_health() is True  # a tickle
    paced()
    status = client.authentication_status().data
    assert (status["authenticated"], status["connected"], status["competing"]) == (
        True, True, False)
    paced()
    accounts = client.portfolio_accounts().data
    state = {account["account_id"]: account for account in sim.control.state()["accounts"]}
    assert [account["accountId"] for account in accounts] == list(state)

    for account_id, expected in state.items():
        paced()
        summary = client.portfolio_summary(account_id).data
        assert summary["netliquidation"]["amount"] == expected["net_liquidation"]
        ledger = client.get_ledger(account_id).data
        assert ledger["BASE"]["netliquidationvalue"] == expected["net_liquidation"]
        positions, page = [], 0
        while True:
            paced()
            rows = client.positions(account_id, page=page).data
            positions += rows
            if len(rows) < 100:
                break
            page += 1
        assert positions == expected["positions"]

    paced()
    assert client.receive_brokerage_accounts().data["accounts"] == list(state)
    paced()
    preflight = client.live_orders(account_id="U1234567").data  # the session's first call
    assert preflight == {"orders": [], "snapshot": False}
    for account_id, expected in state.items():
        paced()
        orders = client.live_orders(account_id=account_id).data
        assert orders == {"orders": expected["orders"], "snapshot": True}

    counters = sim.control.requests()
    assert counters["violations"] == []
    page_counter = counters["endpoints"]["/portfolio/{accountId}/positions/{pageId}"]
    assert page_counter["count"] == 3 + 1 + 1  # 250 positions: pages 0-2, then 16 and 10


def test_ibind_sees_an_unauthenticated_gateway(sim, client):
    sim.control.logout()
    assert client.check_auth_status() is False
    sim.clock.advance(2)
    assert client.check_health() is False  # tickle answers 401


def test_ibind_gets_no_bridge_without_brokerage_session(sim, client):
    sim.control.login(brokerage=False)
    with pytest.raises(ibind.ExternalBrokerError) as refused:
        client.receive_brokerage_accounts()
    assert "no bridge" in str(refused.value)
    client.initialize_brokerage_session()
    assert client.receive_brokerage_accounts().data["accounts"]


def test_ibind_without_pacing_is_refused_with_429(sim, client):
    client.portfolio_accounts()
    with pytest.raises(ibind.ExternalBrokerError) as refused:
        client.portfolio_accounts()
    assert refused.value.status_code == 429
