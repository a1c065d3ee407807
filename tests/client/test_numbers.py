"""Exact number parsing from the gateway's JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest

from veracity_connector.numbers import (
    NumberFormatError,
    decimal_to_string,
    lenient_conid,
    lenient_decimal,
    parse_decimal,
    parse_trailing_amount,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("1234.56", Decimal("1234.56")),
    ("1,234.50", Decimal("1234.50")),
    (12, Decimal(12)),
    (Decimal("0.1"), Decimal("0.1")),
    (0.1, Decimal("0.1")),  # the float's shortest repr, not 0.1000000000000000055...
    (" -3.25 ", Decimal("-3.25")),
    (None, None),
    ("", None),
    ("N/A", None),
    (True, None),
])
def test_parse_decimal_is_exact(raw, expected):
    assert parse_decimal(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "NaN", "Infinity", [1], {"a": 1},
                                 float("nan"), float("-inf"), Decimal("NaN"), Decimal("Infinity")])
def test_parse_decimal_refuses_garbage(raw):
    with pytest.raises(NumberFormatError):
        parse_decimal(raw)


@pytest.mark.parametrize(("raw", "amount", "unit"), [
    ("5%", Decimal(5), "%"),
    ("2.5 %", Decimal("2.5"), "%"),
    ("5", Decimal(5), "amt"),
    (Decimal("1.25"), Decimal("1.25"), "amt"),
    (None, None, None),
])
def test_trailing_amount_splits_percent(raw, amount, unit):
    assert parse_trailing_amount(raw) == (amount, unit)


def test_decimal_to_string_has_no_exponent_and_no_negative_zero():
    assert decimal_to_string(Decimal("1E+3")) == "1000"
    assert decimal_to_string(Decimal("0.00001")) == "0.00001"
    assert decimal_to_string(Decimal("-0.00")) == "0.00"
    assert decimal_to_string(Decimal("-1.50")) == "-1.50"
    assert decimal_to_string(None) is None


def test_snapshot_rows_skip_unreadable_quantities_and_null_other_garbage():
    from veracity_connector.snapshot import to_position

    assert to_position({"conid": 1, "position": "lots"}) is None
    assert to_position({"conid": None, "position": 1}) is None
    row = to_position({"conid": 1, "position": "2", "mktPrice": "N/A?", "ticker": "X"})
    assert row is not None and row["quantity"] == Decimal(2) and row["market_price"] is None


def test_a_bare_nan_from_the_gateway_becomes_null_not_a_refused_snapshot():
    import json

    row = json.loads('{"mktPrice": NaN, "mktValue": Infinity}', parse_float=Decimal)
    assert lenient_decimal(row["mktPrice"], "mktPrice") is None
    assert lenient_decimal(row["mktValue"], "mktValue") is None


@pytest.mark.parametrize(("raw", "expected"), [
    (265598, 265598), ("265598", 265598), (Decimal("265598"), 265598),
    ("AAPL", None), (1.5, None), (-4, None), (True, None), (None, None), (float("nan"), None),
])
def test_contract_ids_are_whole_numbers_or_skipped(raw, expected):
    assert lenient_conid(raw) == expected


def test_gateway_text_is_cut_to_the_contracts_limits_instead_of_costing_the_snapshot():
    from veracity_connector.gateway.orders import to_stop_order
    from veracity_connector.snapshot import to_position

    long_description = "SPX    JAN2027 5000 P [SPXW  270115P05000000 100] " * 3
    position = to_position({"conid": 1, "position": "1", "contractDesc": long_description,
                            "ticker": None, "currency": 840})
    assert position is not None and len(position["symbol"]) == 64
    assert position["description"] == long_description.strip()
    assert position["currency"] == "840"
    order = to_stop_order({"orderId": 7, "conid": 1, "side": "SELL", "orderType": "Stop",
                           "status": "Submitted", "auxPrice": "1", "ticker": "X" * 100,
                           "remainingQuantity": "1", "timeInForce": "GTC"})
    assert order is not None and len(order["symbol"]) == 64


@pytest.mark.parametrize(("raw", "expected"), [(2**62, 2**62), (2**62 + 1, None),
                                               (str(2**63), None)])
def test_contract_ids_beyond_the_servers_limit_are_skipped(raw, expected):
    assert lenient_conid(raw) == expected


def test_codes_currencies_and_order_ids_fit_the_servers_limits():
    from veracity_connector.gateway.orders import to_stop_order
    from veracity_connector.snapshot import to_position

    position = to_position({"conid": 1, "position": "1", "assetClass": "C" * 40,
                            "currency": "X" * 20})
    assert position is not None
    assert position["asset_class"] == "C" * 32  # the server's Code allows 32, not 16
    assert position["currency"] == "X" * 16
    fields = {"conid": 1, "side": "SELL", "orderType": "Stop", "status": "Submitted",
              "auxPrice": "1", "remainingQuantity": "1", "timeInForce": "T" * 20}
    order = to_stop_order({**fields, "orderId": "9" * 64})
    assert order is not None and order["order_id"] == "9" * 64
    assert order["time_in_force"] == "T" * 16
    assert to_stop_order({**fields, "orderId": "9" * 65}) is None  # cut, it would name another


def test_account_and_summary_currencies_fit_the_servers_limit():
    from veracity_connector.gateway.portfolio import PortfolioReader

    class Transport:
        def request(self, method: str, path: str) -> object:
            if path == "/portfolio/accounts":
                return [{"accountId": "U1", "currency": "B" * 20}]
            return {"netliquidation": {"amount": "1", "currency": "S" * 20}}

    reader = PortfolioReader(Transport())  # type: ignore[arg-type]
    assert reader.accounts()[0].base_currency == "B" * 16
    assert reader.summary("U1").currency == "S" * 16
