"""Snapshots read from the simulator: exact numbers, change detection, the orders pre-flight.
(That a snapshot of the demo book equals the simulator's state, every page and account, is
shown end to end in tests/e2e/test_pairing_and_sync.py.)"""

from __future__ import annotations

import json
from decimal import Decimal

from veracity_connector.snapshot import take_snapshot


def test_payload_numbers_are_exact_decimal_strings(simulator, gateway):
    simulator.control.configure(preflight_empty_orders=False)  # faster; quirk tested below
    simulator.control.login()
    gateway.check_session()
    payload = take_snapshot(gateway).payload()
    json.dumps(payload)  # plain JSON: no Decimal or float objects left
    numbers = [value for account in payload["accounts"]
               for row in [*account["positions"], *account["stop_orders"]]
               for name, value in row.items()
               if name in {"quantity", "market_price", "market_value", "average_cost",
                           "unrealized_pnl", "stop_price", "limit_price", "trailing_amount"}
               and value is not None]
    assert len(numbers) > 1000
    assert all(isinstance(value, str) and "e" not in value.lower() for value in numbers)
    for value in numbers:
        Decimal(value)  # each parses exactly
    trailing = [order for account in payload["accounts"] for order in account["stop_orders"]
                if order["order_type"] == "trailing_stop"]
    assert {(order["trailing_amount"], order["trailing_unit"]) for order in trailing} >= {
        ("2", "%"), ("5", "amt")}


def test_unchanged_book_has_the_same_fingerprint_and_a_price_change_does_not(simulator, gateway):
    simulator.control.configure(preflight_empty_orders=False, positions_cache_s=60)
    simulator.control.login()
    simulator.control.set_accounts([{
        "account_id": "U1", "base_currency": "USD", "cash": {"USD": 1000},
        "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10.5, "quantity": 3}],
        "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9.5", "quantity": 3}],
    }])
    gateway.check_session()
    first = take_snapshot(gateway)
    second = take_snapshot(gateway)
    assert first.fingerprint() == second.fingerprint()
    assert first.snapshot_id != second.snapshot_id
    simulator.control.set_prices({9001: 11.25})  # shows at once: the cache is invalidated
    third = take_snapshot(gateway)
    assert third.fingerprint() != first.fingerprint()
    assert third.payload()["accounts"][0]["positions"][0]["market_price"] == "11.25"
    assert third.payload()["accounts"][0]["stop_orders"][0]["stop_price"] == "9.5"


def test_first_orders_call_of_a_session_is_asked_again(simulator, gateway):
    simulator.control.login()
    simulator.control.set_accounts([{
        "account_id": "U1", "base_currency": "USD",
        "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10, "quantity": 3}],
        "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9", "quantity": 3}],
    }])
    gateway.check_session()
    gateway.orders.brokerage_accounts()
    assert [order["order_id"] for order in gateway.orders.stop_orders("U1")] != []
    stats = simulator.control.endpoint("/iserver/account/orders")
    assert stats["accepted"] == 2  # the empty pre-flight answer, then the real one
    assert stats["refused_429"] == 0 and stats["min_interval_s"] >= 5
