"""The protective-stop computation (veracity_server/profile/risk.py): Decimal math, strings out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from veracity_server.profile.risk import (
    account_risk,
    annotate_account,
    effective_stop_price,
    position_multiplier,
    protective_stop,
    risk_summary,
    to_decimal,
)


def position(conid: int = 265598, quantity: str = "100", price: str = "50.00",
             value: str | None = None, currency: str = "USD", **extra: object) -> dict:
    market_value = value if value is not None else str(Decimal(quantity) * Decimal(price))
    return {"conid": conid, "symbol": "AAPL", "quantity": quantity, "market_price": price,
            "market_value": market_value, "currency": currency, **extra}


def stop(order_id: int, side: str, stop_price: str | None, conid: int = 265598,
         quantity: str = "100", order_type: str = "Stop", status: str | None = "Submitted",
         trailing_amount: str | None = None, trailing_unit: str | None = None) -> dict:
    return {"order_id": order_id, "conid": conid, "side": side, "order_type": order_type,
            "quantity": quantity, "stop_price": stop_price, "limit_price": None,
            "trailing_amount": trailing_amount, "trailing_unit": trailing_unit,
            "time_in_force": "GTC", "status": status}


def test_long_position_with_sell_stop_risks_quantity_times_distance():
    risk = protective_stop(position(quantity="100", price="50.00"), [stop(1, "SELL", "45.50")])
    assert risk["has_stop"] is True
    assert risk["stop_order_id"] == "1"
    assert risk["stop_price"] == "45.50"
    assert risk["distance"] == "4.50"
    assert risk["distance_percent"] == "9.00"
    assert risk["amount_at_risk"] == "450.00"
    assert risk["covers_position"] is True


def test_short_position_is_protected_by_a_buy_stop_and_risk_stays_positive():
    short = position(quantity="-200", price="20.00")
    risk = protective_stop(short, [stop(7, "BUY", "21.25", quantity="200")])
    assert risk["stop_price"] == "21.25"
    assert risk["distance"] == "1.25"
    assert risk["distance_percent"] == "6.25"
    assert risk["amount_at_risk"] == "250.00"


def test_stop_on_the_opening_side_is_not_protection():
    long_risk = protective_stop(position(quantity="10"), [stop(1, "BUY", "55")])
    short_risk = protective_stop(position(quantity="-10"), [stop(2, "SELL", "45")])
    assert long_risk["has_stop"] is False
    assert short_risk["has_stop"] is False
    assert long_risk["amount_at_risk"] is None


def test_stop_for_another_contract_is_not_protection():
    risk = protective_stop(position(conid=1), [stop(1, "SELL", "45", conid=2)])
    assert risk["has_stop"] is False


@pytest.mark.parametrize("status", ["Filled", "Cancelled", "Inactive", "PendingCancel"])
def test_orders_that_no_longer_work_are_not_protection(status):
    risk = protective_stop(position(), [stop(1, "SELL", "45", status=status)])
    assert risk["has_stop"] is False


@pytest.mark.parametrize("status", ["Submitted", "PreSubmitted", "PendingSubmit", None])
def test_working_statuses_count(status):
    assert protective_stop(position(), [stop(1, "SELL", "45", status=status)])["has_stop"]


def test_tightest_stop_wins_for_a_long_and_for_a_short():
    orders = [stop(1, "SELL", "40"), stop(2, "SELL", "47.5"), stop(3, "SELL", "44")]
    assert protective_stop(position(price="50"), orders)["stop_order_id"] == "2"
    short_orders = [stop(4, "BUY", "60"), stop(5, "BUY", "52"), stop(6, "BUY", "55")]
    assert protective_stop(position(quantity="-5", price="50"), short_orders)[
        "stop_order_id"] == "5"


def test_trailing_stop_without_stop_price_trails_from_the_market_price():
    amount = protective_stop(
        position(quantity="100", price="80.00"),
        [stop(1, "SELL", None, order_type="TRAILING_STOP", trailing_amount="5",
              trailing_unit="amount")])
    assert amount["stop_price"] == "75.0000"
    assert amount["stop_price_source"] == "trailing_from_market"
    assert amount["amount_at_risk"] == "500.00"
    percent = protective_stop(
        position(quantity="-10", price="80.00"),
        [stop(2, "BUY", None, order_type="TRAILING_STOP", trailing_amount="2",
              trailing_unit="%", quantity="10")])
    assert percent["stop_price"] == "81.6000"
    assert percent["distance"] == "1.6000"
    assert percent["amount_at_risk"] == "16.00"


def test_trailing_stop_with_reported_stop_price_uses_it():
    risk = protective_stop(position(price="80"), [
        stop(1, "SELL", "78.10", order_type="TRAILING_STOP", trailing_amount="2",
             trailing_unit="%")])
    assert risk["stop_price"] == "78.10"
    assert risk["stop_price_source"] == "order"


def test_option_multiplier_is_implied_from_market_value():
    option = position(conid=9, quantity="2", price="3.50", value="700.00")
    risk = protective_stop(option, [stop(1, "SELL", "2.50", conid=9, quantity="2")])
    assert risk["multiplier"] == "100"
    assert risk["multiplier_source"] == "market_value"
    assert risk["amount_at_risk"] == "200.00"


def test_explicit_multiplier_beats_the_implied_one():
    future = position(conid=5, quantity="1", price="5000", value="250000", multiplier="50")
    assert position_multiplier(future) == (Decimal(50), "position")
    risk = protective_stop(future, [stop(1, "SELL", "4990", conid=5, quantity="1")])
    assert risk["amount_at_risk"] == "500.00"


def test_rounded_market_value_still_gives_a_whole_multiplier():
    option = position(quantity="3", price="1.2345", value="370.34")
    assert position_multiplier(option) == (Decimal(100), "market_value")


def test_inconsistent_market_value_falls_back_to_one():
    odd = position(quantity="3", price="10", value="112.2")
    assert position_multiplier(odd) == (Decimal(1), "assumed")
    missing = position(quantity="3", price="10", value="0")
    assert position_multiplier(missing) == (Decimal(1), "assumed")


def test_partial_stop_is_flagged_as_not_covering_the_position():
    risk = protective_stop(position(quantity="100"), [stop(1, "SELL", "45", quantity="40")])
    assert risk["stop_quantity"] == "40"
    assert risk["covers_position"] is False


def test_flat_position_has_no_stop():
    assert protective_stop(position(quantity="0"), [stop(1, "SELL", "45")])["has_stop"] is False


def test_exact_decimal_math_no_binary_float_error():
    risk = protective_stop(position(quantity="3", price="0.3", value="0.9"),
                           [stop(1, "SELL", "0.1", quantity="3")])
    assert risk["distance"] == "0.2"
    assert risk["amount_at_risk"] == "0.60"


def test_missing_market_price_keeps_the_stop_but_no_distance():
    risk = protective_stop({"conid": 1, "quantity": "10", "market_price": None,
                            "market_value": None, "currency": "USD"},
                           [stop(1, "SELL", "45", conid=1, quantity="10")])
    assert risk["has_stop"] is True
    assert risk["distance"] is None
    assert risk["amount_at_risk"] is None


def test_trailing_order_without_any_price_is_ignored():
    stop_price, source = effective_stop_price(
        stop(1, "SELL", None, trailing_amount="5"), "SELL", None)
    assert (stop_price, source) == (None, None)


@pytest.mark.parametrize("raw", [None, "", "abc", "NaN", "Infinity", True])
def test_unreadable_numbers_are_unknown(raw):
    assert to_decimal(raw) is None


def test_summary_counts_and_sums_per_currency_never_across():
    positions = [position(conid=1, quantity="10", price="50"),
                 position(conid=2, quantity="10", price="50", currency="EUR"),
                 position(conid=3, quantity="10", price="50"),
                 position(conid=4, quantity="0", price="50")]
    orders = [stop(1, "SELL", "49", conid=1, quantity="10"),
              stop(2, "SELL", "48", conid=2, quantity="10"),
              stop(3, "SELL", "60", conid=4, quantity="10")]
    risks = account_risk(positions, orders)
    summary = risk_summary(positions, risks)
    assert summary == {"positions_with_stop": 2, "positions_without_stop": 1,
                       "amount_at_risk_by_currency": {"EUR": "20.00", "USD": "10.00"}}


def test_annotate_account_adds_risk_to_every_position():
    account = {"account_id": "U1", "positions": [position(conid=1), position(conid=2)],
               "stop_orders": [stop(1, "SELL", "45", conid=1)]}
    annotate_account(account)
    assert [p["risk"]["has_stop"] for p in account["positions"]] == [True, False]
    assert account["risk_summary"]["positions_without_stop"] == 1


def test_annotate_account_without_positions():
    account = annotate_account({"account_id": "U1", "positions": [], "stop_orders": []})
    assert account["risk_summary"]["positions_with_stop"] == 0
