"""Which gateway orders are working stop-type orders, and how they map to the contract."""

from __future__ import annotations

from decimal import Decimal

import pytest

from veracity_connector.gateway.orders import is_working, normalised_stop_type, to_stop_order


def order(**fields):
    base = {"acct": "U1", "orderId": 101, "conid": 265598, "ticker": "AAPL", "side": "SELL",
            "status": "Submitted", "orderType": "Stop", "totalSize": 10,
            "remainingQuantity": 10, "timeInForce": "GTC", "auxPrice": "180.5"}
    base.update(fields)
    return base


@pytest.mark.parametrize(("order_type", "expected"), [
    ("Stop", "stop"), ("STP", "stop"),
    ("Stop Limit", "stop_limit"), ("STOP_LIMIT", "stop_limit"),
    ("TRAILING_STOP", "trailing_stop"), ("TRAIL", "trailing_stop"),
    ("TRAILING_STOP_LIMIT", "trailing_stop_limit"), ("TRAILLMT", "trailing_stop_limit"),
    ("Limit", None), ("Market", None), ("LIMITONCLOSE", None), ("MidPrice", None), ("", None),
])
def test_both_spellings_of_stop_types_are_recognised(order_type, expected):
    assert normalised_stop_type({"orderType": order_type}) == expected


@pytest.mark.parametrize(("status", "working"), [
    ("PendingSubmit", True), ("PreSubmitted", True), ("Submitted", True),
    ("Filled", False), ("Cancelled", False), ("Inactive", False), ("PendingCancel", False),
])
def test_only_working_statuses_count(status, working):
    assert is_working({"status": status}) is working
    assert (to_stop_order(order(status=status)) is not None) is working


def test_stop_maps_to_contract_fields_exactly():
    mapped = to_stop_order(order(stop_price=None))
    assert mapped == {
        "order_id": "101", "conid": 265598, "symbol": "AAPL", "side": "SELL",
        "order_type": "stop", "quantity": Decimal(10), "stop_price": Decimal("180.5"),
        "limit_price": None, "trailing_amount": None, "trailing_unit": None,
        "time_in_force": "GTC", "status": "Submitted"}


def test_stop_limit_keeps_stop_and_limit_prices():
    mapped = to_stop_order(order(orderType="Stop Limit", price="179.00", auxPrice="180.00"))
    assert mapped["stop_price"] == Decimal("180.00")
    assert mapped["limit_price"] == Decimal("179.00")


@pytest.mark.parametrize(("aux", "amount", "unit"), [("5%", Decimal(5), "%"),
                                                       ("2.5", Decimal("2.5"), "amt")])
def test_trailing_amount_and_unit_from_aux_price(aux, amount, unit):
    mapped = to_stop_order(order(orderType="TRAILING_STOP", auxPrice=aux, stop_price="171.2"))
    assert (mapped["trailing_amount"], mapped["trailing_unit"]) == (amount, unit)
    assert mapped["stop_price"] == Decimal("171.2")  # the current trigger, when given
    assert mapped["limit_price"] is None


def test_partially_filled_stop_reports_remaining_quantity():
    assert to_stop_order(order(totalSize=10, remainingQuantity=4))["quantity"] == Decimal(4)


@pytest.mark.parametrize("missing", ["conid", "orderId", "side"])
def test_order_missing_identity_is_skipped_not_fatal(missing):
    assert to_stop_order(order(**{missing: None})) is None


def test_unreadable_numbers_become_null_instead_of_failing_the_snapshot():
    mapped = to_stop_order(order(orderType="TRAILING_STOP", auxPrice="five%", stop_price="??"))
    assert mapped is not None
    assert (mapped["trailing_amount"], mapped["trailing_unit"], mapped["stop_price"]) == (
        None, None, None)
