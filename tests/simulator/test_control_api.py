"""The control API: setting accounts, positions, orders and options; bad input changes nothing."""

from __future__ import annotations

import pytest

from ibkr_gateway_sim.control import SimulatorControlError

ONE_ACCOUNT = [{
    "account_id": "DU111", "base_currency": "CHF", "title": "Test", "cash": {"CHF": 1000.0},
    "positions": [
        {"conid": 9001, "ticker": "NESN", "currency": "CHF", "quantity": 10,
         "average_price": 90.0, "market_price": 100.0, "listing_exchange": "EBS"},
        {"conid": 9002, "ticker": "ROG", "asset_class": "OPT", "currency": "CHF",
         "quantity": -1, "average_price": 2.0, "market_price": 3.0, "put_or_call": "C",
         "strike": 250, "expiry": "20270115"},
    ],
    "orders": [
        {"order_id": 1, "conid": 9001, "order_type": "Stop", "quantity": 10, "aux_price": 85,
         "status": "Submitted"},
    ],
}]


def test_set_accounts_replaces_the_book(gateway_sim):
    state = gateway_sim.control.set_accounts(ONE_ACCOUNT)
    (account,) = state["accounts"]
    assert account["account_id"] == "DU111" and account["base_currency"] == "CHF"
    # 1000 cash + 10 x 100 stock + (-1 x 3 x 100) option
    assert account["net_liquidation"] == pytest.approx(1700.0)
    option = account["positions"][1]
    assert (option["assetClass"], option["multiplier"], option["mktValue"]) == ("OPT", 100, -300)
    assert account["orders"][0]["auxPrice"] == "85"
    gateway_sim.control.login()
    assert [a["id"] for a in gateway_sim.get("/portfolio/accounts").json()] == ["DU111"]


def test_set_positions_and_orders_of_one_account(gateway_sim):
    gateway_sim.control.set_accounts(ONE_ACCOUNT)
    state = gateway_sim.control.set_positions("DU111", [
        {"conid": 9001, "quantity": 5, "average_price": 95.0}])
    assert [row["position"] for row in state["accounts"][0]["positions"]] == [5]
    state = gateway_sim.control.set_orders("DU111", [])
    assert state["accounts"][0]["orders"] == []


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/accounts", {"accounts": [{"account_id": "X", "base_currency": "XXX"}]}),
    ("PUT", "/accounts", {"accounts": [{"base_currency": "USD"}]}),
    ("PUT", "/accounts", {"accounts": "nope"}),
    ("PUT", "/accounts/U1234567/positions", {"positions": [{"ticker": "A", "quantity": 1}]}),
    ("PUT", "/accounts/U1234567/positions", {"positions": [{"conid": 1, "quantity": "x"}]}),
    ("PUT", "/accounts/U1234567/orders", {"orders": [{"conid": 1, "order_type": "Stop",
                                                      "quantity": 1}]}),
    ("PUT", "/accounts/U1234567/orders", {"orders": [{"conid": 265598, "order_type": "Bogus",
                                                      "quantity": 1}]}),
    ("PUT", "/prices", {"prices": {"265598": -5}}),
    ("PUT", "/prices", {"prices": {"notaconid": 5}}),
    ("POST", "/config", {"idle_timeout_s": "soon"}),
    ("POST", "/config", {"no_such_option": 1}),
    ("POST", "/prices/tick", {"steps": 0}),
    ("POST", "/reset", {"scenario": "nope"}),
])
def test_bad_control_input_is_refused_and_changes_nothing(gateway_sim, method, path, body):
    before = (gateway_sim.control.state(), gateway_sim.control.config())
    with pytest.raises(SimulatorControlError) as refused:
        gateway_sim.control._call(method, path, body)
    assert refused.value.status == 400
    assert str(refused.value)
    assert (gateway_sim.control.state(), gateway_sim.control.config()) == before


def test_unknown_account_and_order_are_404(gateway_sim):
    with pytest.raises(SimulatorControlError) as missing:
        gateway_sim.control.set_orders("NOPE", [])
    assert missing.value.status == 404
    with pytest.raises(SimulatorControlError) as missing_order:
        gateway_sim.control.update_order(123, status="Filled")
    assert missing_order.value.status == 404


def test_malformed_json_is_refused(gateway_sim):
    response = gateway_sim.http.post(f"{gateway_sim.base_url}/sim/login", data="{nope",
                                     headers={"Content-Type": "application/json"},
                                     verify=gateway_sim.verify, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_config_changes_apply_at_once(gateway_sim):
    gateway_sim.control.login()
    gateway_sim.control.configure(idle_timeout_s=0)
    assert gateway_sim.control.config()["idle_timeout_s"] == 0
    assert gateway_sim.get("/portfolio/accounts").status_code == 401


def test_reset_restores_the_scenario_and_logs_out(gateway_sim):
    original = gateway_sim.control.state()
    gateway_sim.control.set_accounts(ONE_ACCOUNT)
    gateway_sim.control.login()
    gateway_sim.control.reset()
    assert gateway_sim.control.state() == original
    assert gateway_sim.control.session()["logged_in"] is False
    assert gateway_sim.control.reset(scenario="empty")["scenario"] == "empty"
    assert gateway_sim.control.state()["accounts"] == []


def test_manual_clock_is_refused_on_the_system_clock(gateway_sim):
    with pytest.raises(SimulatorControlError) as refused:
        gateway_sim.control.advance_clock(5)
    assert refused.value.status == 409


def test_certificate_is_served_and_verifies_the_connection(gateway_sim):
    pem = gateway_sim.control.certificate_pem()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem == gateway_sim.certificate_pem
    # gateway_sim.get verifies TLS against this certificate (hostname 127.0.0.1 in its SAN).
    assert gateway_sim.post("/iserver/auth/status").status_code == 200


def test_login_page_stands_in_for_the_browser_login(gateway_sim):
    root = gateway_sim.http.get(f"{gateway_sim.base_url}/", verify=gateway_sim.verify,
                                timeout=5, allow_redirects=True)
    assert root.status_code == 200 and "Client Portal Gateway" in root.text
    assert "/sim/login" in root.text
