"""Live orders with the gateway's quirks: pre-flight empty call, force, accountId, filters."""

from __future__ import annotations

import pytest

ORDERS = "/iserver/account/orders"


@pytest.fixture
def sim(gateway_sim_factory):
    sim = gateway_sim_factory(pacing_enabled=False, idle_timeout_s=60)
    sim.control.login()
    sim.get("/iserver/accounts")
    return sim


def _state_orders(sim, account_id):
    accounts = sim.control.state()["accounts"]
    return next(account["orders"] for account in accounts if account["account_id"] == account_id)


def test_first_call_is_an_empty_preflight_then_orders_come(sim):
    assert sim.get(ORDERS, params={"accountId": "U1234567"}).json() == {
        "orders": [], "snapshot": False}
    second = sim.get(ORDERS, params={"accountId": "U1234567"}).json()
    assert second["snapshot"] is True
    assert second["orders"] == _state_orders(sim, "U1234567")


def test_preflight_can_be_turned_off(gateway_sim_factory):
    sim = gateway_sim_factory(preflight_empty_orders=False, pacing_enabled=False)
    sim.control.login()
    sim.get("/iserver/accounts")
    assert len(sim.get(ORDERS, params={"accountId": "U2345678"}).json()["orders"]) == 12


def test_orders_need_iserver_accounts_first(gateway_sim_factory):
    sim = gateway_sim_factory(preflight_empty_orders=False, pacing_enabled=False)
    sim.control.login()
    assert sim.get(ORDERS, params={"accountId": "U1234567"}).json()["orders"] == []
    sim.get("/iserver/accounts")
    assert sim.get(ORDERS, params={"accountId": "U1234567"}).json()["orders"]


def test_without_account_id_only_the_selected_account_is_listed(sim):
    sim.get(ORDERS)
    listed = sim.get(ORDERS).json()["orders"]
    assert {order["acct"] for order in listed} == {"U1234567"}
    # Other accounts' orders are silently missing: the "false empty" the connector must avoid.
    assert sim.post("/iserver/account", json={"acctId": "U3456789"}).json()["set"] is True
    sim.get(ORDERS)
    assert {order["acct"] for order in sim.get(ORDERS).json()["orders"]} == {"U3456789"}


def test_preflight_is_once_per_session(sim):
    assert sim.get(ORDERS, params={"accountId": "U1234567"}).json()["orders"] == []
    assert sim.get(ORDERS, params={"accountId": "U2345678"}).json()["orders"]
    sim.control.login()  # a new session: a new pre-flight call
    sim.get("/iserver/accounts")
    assert sim.get(ORDERS, params={"accountId": "U2345678"}).json()["orders"] == []


def test_force_answers_empty_and_the_next_call_lists_orders(sim):
    forced = sim.get(ORDERS, params={"accountId": "U1234567", "force": "true"}).json()
    assert forced == {"orders": [], "snapshot": False}
    assert sim.get(ORDERS, params={"accountId": "U1234567"}).json()["orders"]


def test_filters_select_statuses(sim):
    params = {"accountId": "U1234567", "filters": "submitted,pre_submitted"}
    sim.get(ORDERS, params=params)
    listed = sim.get(ORDERS, params=params).json()["orders"]
    assert {order["status"] for order in listed} == {"Submitted", "PreSubmitted"}


def test_demo_orders_mix_types_statuses_and_price_fields(sim):
    orders = _state_orders(sim, "U1234567")
    assert {order["orderType"] for order in orders} == {
        "Stop", "Stop Limit", "TRAILING_STOP", "TRAILING_STOP_LIMIT", "Limit", "Market"}
    assert {"Submitted", "PreSubmitted", "Filled", "Cancelled", "Inactive"} <= {
        order["status"] for order in orders}
    stop = next(order for order in orders if order["orderType"] == "Stop")
    assert stop["auxPrice"] == stop["stop_price"] and isinstance(stop["auxPrice"], str)
    stop_limit = next(order for order in orders if order["orderType"] == "Stop Limit")
    assert isinstance(stop_limit["price"], str) and isinstance(stop_limit["auxPrice"], str)
    trailing = [order["auxPrice"] for account in sim.control.state()["accounts"]
                for order in account["orders"] if order["orderType"].startswith("TRAILING")]
    assert any(value.endswith("%") for value in trailing)
    assert any(not value.endswith("%") for value in trailing)
    for order in orders:
        assert {"acct", "orderId", "conid", "ticker", "side", "status", "totalSize",
                "orderType", "timeInForce", "lastExecutionTime_r"} <= set(order)
        assert isinstance(order["orderId"], int)


def test_added_order_appears_and_its_status_can_change(sim):
    conid = _state_orders(sim, "U3456789")[0]["conid"]
    added = sim.control.add_order("U3456789", {
        "order_id": 777, "conid": conid, "side": "SELL", "order_type": "TRAILING_STOP",
        "quantity": 10, "aux_price": "2.5%", "status": "Submitted"})
    assert (added["orderId"], added["auxPrice"], added["status"]) == (777, "2.5%", "Submitted")
    sim.control.update_order(777, status="Filled")
    filled = next(o for o in _state_orders(sim, "U3456789") if o["orderId"] == 777)
    assert (filled["status"], filled["filledQuantity"], filled["remainingQuantity"]) == (
        "Filled", 10, 0)


def test_trades_list_filled_orders(sim):
    trades = sim.get("/iserver/account/trades", params={"accountId": "U2345678"}).json()
    filled = [o for o in _state_orders(sim, "U2345678") if o["status"] == "Filled"]
    assert len(trades) == len(filled) > 0
