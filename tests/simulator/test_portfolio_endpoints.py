"""Accounts, summary, ledger and positions as the gateway serves them, matching /sim/state."""

from __future__ import annotations

import pytest

from tests.support.waiting import wait_until


@pytest.fixture
def sim(gateway_sim_factory):
    sim = gateway_sim_factory(pacing_enabled=False, idle_timeout_s=60)
    sim.control.login()
    return sim


def _accounts_by_id(sim):
    return {account["account_id"]: account for account in sim.control.state()["accounts"]}


def test_demo_book_has_three_currencies_and_all_asset_classes(sim):
    accounts = sim.get("/portfolio/accounts").json()
    assert {account["currency"] for account in accounts} == {"USD", "EUR", "GBP"}
    assert {"id", "accountId", "accountVan", "accountTitle", "displayName", "currency", "type",
            "tradingType", "faclient", "parent"} <= set(accounts[0])
    state = _accounts_by_id(sim)
    sizes = sorted(len(account["positions"]) for account in state.values())
    assert sizes[-1] == 250
    classes = {row["assetClass"] for account in state.values() for row in account["positions"]}
    assert {"STK", "OPT", "FUT"} <= classes
    option = next(row for row in state["U1234567"]["positions"] if row["assetClass"] == "OPT")
    assert option["putOrCall"] in ("P", "C") and option["strike"] > 0
    assert option["multiplier"] == 100 and len(option["expiry"]) == 8


def test_positions_come_in_pages_of_100(sim):
    sim.get("/portfolio/accounts")
    pages = [sim.get(f"/portfolio/U1234567/positions/{page}").json() for page in range(4)]
    assert [len(page) for page in pages] == [100, 100, 50, 0]
    read = [row for page in pages for row in page]
    assert read == _accounts_by_id(sim)["U1234567"]["positions"]
    assert len({row["conid"] for row in read}) == 250


def test_positions_before_portfolio_accounts_are_falsely_empty(sim):
    assert sim.get("/portfolio/U1234567/positions/0").json() == []
    assert sim.get("/portfolio2/U1234567/positions").json() == []
    sim.get("/portfolio/accounts")
    assert len(sim.get("/portfolio/U1234567/positions/0").json()) == 100


def test_unpaged_positions_are_uncached_and_complete(sim):
    sim.control.configure(positions_cache_s=3600)  # the cache must outlive a slow machine
    sim.get("/portfolio/accounts")
    cached = sim.get("/portfolio/U2345678/positions/0").json()
    sim.control.tick_prices(5)
    fresh = sim.get("/portfolio2/U2345678/positions").json()
    assert fresh == _accounts_by_id(sim)["U2345678"]["positions"]
    assert [row["mktPrice"] for row in fresh] != [row["mktPrice"] for row in cached]
    # The paged endpoint still serves its cache until invalidated (or its cache time passes).
    assert sim.get("/portfolio/U2345678/positions/0").json() == cached
    assert sim.post("/portfolio/U2345678/positions/invalidate").json() == {"message": "success"}
    assert sim.get("/portfolio/U2345678/positions/0").json() == fresh


def test_summary_and_ledger_agree_with_state_and_follow_prices(sim):
    for _ in range(2):
        state = _accounts_by_id(sim)
        for account_id, account in state.items():
            summary = sim.get(f"/portfolio/{account_id}/summary").json()
            assert summary["netliquidation"]["amount"] == account["net_liquidation"]
            assert summary["netliquidation"]["currency"] == account["base_currency"]
            assert {"amount", "currency", "isNull", "timestamp", "value", "severity"} <= set(
                summary["totalcashvalue"])
            assert "netliquidation-s" in summary and "netliquidation-c" in summary
            ledger = sim.get(f"/portfolio/{account_id}/ledger").json()
            assert ledger["BASE"]["netliquidationvalue"] == account["net_liquidation"]
            assert ledger["BASE"]["key"] == "LedgerList"
            assert ledger[account["base_currency"]]["exchangerate"] == 1
        sim.control.tick_prices()
    after = _accounts_by_id(sim)
    assert all(after[key]["net_liquidation"] != state[key]["net_liquidation"] for key in after)


def test_market_value_follows_a_set_price(sim):
    position = _accounts_by_id(sim)["U3456789"]["positions"][0]
    sim.control.set_prices({position["conid"]: 100.0})
    row = _accounts_by_id(sim)["U3456789"]["positions"][0]
    assert row["mktPrice"] == 100.0
    assert row["mktValue"] == pytest.approx(row["position"] * 100.0, abs=0.01)
    assert row["unrealizedPnl"] == pytest.approx(row["mktValue"] - row["position"] * row["avgCost"],
                                                 abs=0.02)


def test_same_seed_same_book_other_seed_other_book(gateway_sim_factory):
    first, second = gateway_sim_factory(), gateway_sim_factory()
    third = gateway_sim_factory(seed=99)
    assert first.control.state() == second.control.state()
    assert first.control.state() != third.control.state()


def test_automatic_price_ticks_move_prices(gateway_sim_factory):
    sim = gateway_sim_factory(price_tick_interval_s=0.05)
    before = sim.control.state()["accounts"][0]["net_liquidation"]
    # The ticker thread runs every 50 ms.
    wait_until(lambda: sim.control.state()["accounts"][0]["net_liquidation"] != before, 5,
               "a price tick to change the net liquidation", interval_s=0.05)


def test_unknown_account_is_a_gateway_error(sim):
    response = sim.get("/portfolio/U0000000/summary")
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400


def test_unknown_endpoint_is_a_json_404(sim):
    response = sim.get("/portfolio/nothing/here/at/all")
    assert response.status_code == 404 and response.json()["statusCode"] == 404


def test_account_meta_describes_one_account(sim):
    meta = sim.get("/portfolio/U2345678/meta").json()
    assert (meta["id"], meta["currency"]) == ("U2345678", "EUR")
