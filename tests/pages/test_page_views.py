"""What the page says: formatting, connector wording, troubleshooting in context, portfolio
totals per currency, and the SVG chart's geometry and text alternative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from veracity_server.pages.chart import Series, axis_money, build_chart, thin, value_axis
from veracity_server.pages.connectors_view import connectors_page, gateway_words
from veracity_server.pages.formatting import money, number, order_type, price, time_ago
from veracity_server.pages.portfolio_view import portfolio_page
from veracity_server.pages.security import safe_next_path

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def connector(**fields: object) -> dict:
    base = {"id": "c1", "hostname": "DESK", "platform": "Windows-11",
            "connector_version": "1.0.0", "created_at": "2026-11-24T19:00:00Z",
            "last_seen_at": "2026-11-24T19:58:00Z", "last_snapshot_at": None,
            "revoked_at": None, "status": "online",
            "gateway": {"state": "ok", "message": None, "port": 5000}}
    return base | fields


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "just now"), (125, "2 min ago"), (89 * 60, "89 min ago"), (3 * 3600, "3 h ago"),
    (5 * 86400, "5 days ago"), (-30, "just now")])
def test_time_ago(seconds, text):
    assert time_ago(NOW - timedelta(seconds=seconds), NOW) == text


def test_time_ago_without_a_time_says_never():
    assert time_ago(None, NOW) == "never"


def test_money_number_and_price_formatting_is_exact():
    assert money("1234567.005", "USD") == "1,234,567.00 USD"  # banker's rounding, no float
    assert money(None, "USD") == "—"
    assert number("1500.0000") == "1,500"
    assert number("-3.2500") == "-3.25"
    assert price("135.1") == "135.10"
    assert price("1.234567") == "1.234567"
    assert price("garbage") == "—"


@pytest.mark.parametrize(("raw", "words"), [
    ("stop", "Stop"), ("STP", "Stop"), ("Stop Limit", "Stop limit"),
    ("TRAILING_STOP", "Trailing stop"), ("TRAILLMT", "Trailing stop limit"), (None, "—"),
    ("MIDPRICE_THING", "Midprice thing")])
def test_order_types_in_plain_words(raw, words):
    assert order_type(raw) == words


@pytest.mark.parametrize(("state", "expected"), [
    ("ok", "Gateway connected and logged in (port 5001)"),
    ("unauthenticated", "Gateway needs login — open https://localhost:5001 on that machine"),
    ("competing", "Another IBKR session took over — open https://localhost:5001 on that "
                  "machine and log in again"),
    ("unreachable", "Gateway not reachable on port 5001 — start it, or move the gateway and the "
                    "connector to a free port together"),
    ("error", "Gateway reported an error: boom"),
    (None, "No gateway report yet — waiting for the connector's first heartbeat"),
])
def test_gateway_state_in_words(state, expected):
    sentence, _, _ = gateway_words({"state": state, "message": "boom", "port": 5001})
    assert sentence == expected


def test_gateway_port_missing_or_absurd_falls_back_to_5000():
    assert "https://localhost:5000" in gateway_words({"state": "unauthenticated",
                                                      "port": None})[0]
    assert "https://localhost:5000" in gateway_words({"state": "unauthenticated",
                                                      "port": 99999})[0]


def topics_with_hosts(page: dict) -> dict:
    return {topic["key"]: topic["hosts"] for topic in page["topics"] if topic["hosts"]}


def test_troubleshooting_in_context_per_condition():
    page = connectors_page([
        connector(id="a", hostname="LOGIN", gateway={"state": "unauthenticated", "port": 5001}),
        connector(id="b", hostname="PORT", gateway={"state": "unreachable", "port": 5000}),
        connector(id="c", hostname="QUIET", status="stale"),
        connector(id="d", hostname="FINE"),
    ], NOW)
    assert topics_with_hosts(page) == {"gateway-login": ["LOGIN"], "port-in-use": ["PORT"],
                                       "firewall": ["PORT"], "connector-offline": ["QUIET"]}
    login = next(topic for topic in page["topics"] if topic["key"] == "gateway-login")
    assert login["affected"] == [{"hostname": "LOGIN", "login_url": "https://localhost:5001"}]


def test_revoked_connector_points_to_a_new_token_until_the_computer_is_paired_again():
    revoked = connector(id="old", status="revoked", revoked_at="2026-11-24T19:30:00Z")
    assert topics_with_hosts(connectors_page([revoked], NOW)) == {"invalid-key": ["DESK"]}
    again = connector(id="new", created_at="2026-11-24T19:45:00Z")
    assert topics_with_hosts(connectors_page([revoked, again], NOW)) == {}


def test_active_connectors_come_first_newest_first():
    page = connectors_page([
        connector(id="revoked", status="revoked", created_at="2026-11-24T19:59:00Z"),
        connector(id="older", created_at="2026-11-20T10:00:00Z"),
        connector(id="newer", created_at="2026-11-23T10:00:00Z"),
    ], NOW)
    assert [view["id"] for view in page["connectors"]] == ["newer", "older", "revoked"]
    assert page["active_count"] == 2
    assert page["connectors"][0]["last_seen_ago"] == "2 min ago"


def portfolio(**fields: object) -> dict:
    base = {
        "as_of": "2026-11-24T19:58:00Z",
        "accounts": [
            {"account_id": "U1", "base_currency": "USD", "net_liquidation": "1000.50",
             "cash": "10", "taken_at": "2026-11-24T19:58:00Z", "positions": [
                 {"conid": 1, "symbol": "AAPL", "quantity": "10", "market_price": "50",
                  "market_value": "500", "currency": "USD", "unrealized_pnl": "-5",
                  "risk": {"has_stop": True, "stop_order_id": "9", "stop_order_type": "STP",
                           "stop_price": "45", "stop_price_source": "order",
                           "stop_quantity": "10", "covers_position": True, "distance": "5",
                           "distance_percent": "10.00", "amount_at_risk": "50.00"}},
                 {"conid": 2, "symbol": "MSFT", "quantity": "3", "market_price": "100",
                  "market_value": "300", "currency": "USD", "unrealized_pnl": "7",
                  "risk": {"has_stop": False}}],
             "stop_orders": [
                 {"order_id": "9", "conid": 1, "symbol": "AAPL", "side": "SELL",
                  "order_type": "STP", "quantity": "10", "stop_price": "45"},
                 {"order_id": "10", "conid": 77, "symbol": "XYZ", "side": "SELL",
                  "order_type": "TRAILING_STOP", "quantity": "1", "stop_price": None,
                  "trailing_amount": "2", "trailing_unit": "%"}],
             "risk_summary": {"amount_at_risk_by_currency": {"USD": "50.00"}}},
            {"account_id": "E1", "base_currency": "EUR", "net_liquidation": "200",
             "cash": None, "taken_at": "2026-11-24T19:50:00Z", "positions": [],
             "stop_orders": []}],
        "net_liquidation_by_currency": {"EUR": "200", "USD": "1000.50"},
        "value_history": [
            {"account_id": "U1", "currency": "USD", "points": [
                {"taken_at": "2026-11-24T18:00:00Z", "net_liquidation": "900"},
                {"taken_at": "2026-11-24T19:58:00Z", "net_liquidation": "1000.50"}]},
            {"account_id": "E1", "currency": "EUR", "points": [
                {"taken_at": "2026-11-24T19:50:00Z", "net_liquidation": "200"}]}],
    }
    return base | fields


def test_portfolio_totals_stay_per_currency():
    page = portfolio_page(portfolio(), NOW)
    assert page["mixed_currencies"] is True
    assert [(total["currency"], total["amount"]) for total in page["totals"]] == [
        ("EUR", "200.00 EUR"), ("USD", "1,000.50 USD")]
    assert page["last_sync_ago"] == "2 min ago"
    assert [chart.currency for chart in page["charts"]] == ["EUR", "USD"]


def test_positions_show_their_stop_or_the_missing_stop():
    account = portfolio_page(portfolio(), NOW)["accounts"][0]
    protected, bare = account["positions"]
    assert (protected["stop_price"], protected["stop_type"], protected["distance"],
            protected["at_risk"]) == ("45.00", "Stop", "5.00 (10.00%)", "50.00 USD")
    assert bare["has_stop"] is False
    assert account["without_stop"] == 1
    assert account["at_risk"] == ["50.00 USD"]


def test_stop_orders_say_what_they_protect():
    orders = portfolio_page(portfolio(), NOW)["accounts"][0]["stop_orders"]
    assert orders[0]["role"] == "AAPL (10)"
    assert orders[1]["role"] == "No matching position"
    assert orders[1]["trailing"] == "2%"
    assert orders[1]["order_type"] == "Trailing stop"


def test_empty_portfolio():
    page = portfolio_page({"as_of": None, "accounts": [], "net_liquidation_by_currency": {},
                           "value_history": []}, NOW)
    assert page["has_data"] is False
    assert page["charts"] == []


def test_chart_geometry_stays_inside_the_plot_and_describes_itself():
    start = NOW - timedelta(hours=10)
    points = [(start + timedelta(hours=hour), Decimal(1000 + hour * 10)) for hour in range(11)]
    chart = build_chart("USD", [Series("U1", "USD", points)])
    coordinates = [tuple(map(float, pair.split(","))) for pair in
                   chart.lines[0]["points"].split()]
    assert len(coordinates) == 11
    assert all(chart.plot_left <= x <= chart.plot_right for x, _ in coordinates)
    assert all(chart.plot_top <= y <= chart.plot_bottom for _, y in coordinates)
    assert coordinates[0][1] > coordinates[-1][1]  # rising value = line goes up the screen
    assert chart.summaries == [
        "U1: 1,000.00 USD on 24 Nov 2026 10:00 UTC, 1,100.00 USD on 24 Nov 2026 20:00 UTC "
        "(up 100.00 USD); low 1,000.00 USD, high 1,100.00 USD, 11 data points."]
    assert [tick["label"] for tick in chart.x_ticks] == ["10:00", "15:00", "20:00"]
    assert chart.table_rows[0]["value"] == "1,100.00 USD"  # newest first


def test_single_point_chart_and_flat_values():
    chart = build_chart("EUR", [Series("E1", "EUR", [(NOW, Decimal(200))])])
    assert chart.lines[0]["single"] is True
    assert "one data point so far" in chart.summaries[0]
    low, high, step = value_axis(Decimal(200), Decimal(200))
    assert low < 200 < high and step > 0


def test_long_histories_are_thinned_keeping_both_ends():
    points = [(NOW + timedelta(minutes=index), Decimal(index)) for index in range(1000)]
    thinned = thin(points, 240)
    assert len(thinned) == 240
    assert thinned[0] == points[0] and thinned[-1] == points[-1]


@pytest.mark.parametrize(("value", "step", "largest", "label"), [
    ("3400000", "100000", "3400000", "3.4M"), ("36500", "500", "38000", "36.5k"),
    ("250", "50", "300", "250"), ("0.15", "0.05", "0.2", "0.15")])
def test_axis_labels_are_short(value, step, largest, label):
    assert axis_money(Decimal(value), Decimal(step), Decimal(largest)) == label


@pytest.mark.parametrize(("candidate", "expected"), [
    ("/profile/ibkr", "/profile/ibkr"), ("/profile/ibkr?tab=1", "/profile/ibkr?tab=1"),
    (None, "/profile/ibkr"), ("", "/profile/ibkr"), ("https://evil.example/", "/profile/ibkr"),
    ("//evil.example/", "/profile/ibkr"), ("/\\evil.example", "/profile/ibkr"),
    ("javascript:alert(1)", "/profile/ibkr"), ("/ok\r\nSet-Cookie: x", "/profile/ibkr")])
def test_only_same_site_paths_are_followed_after_login(candidate, expected):
    assert safe_next_path(candidate) == expected


def test_just_paired_connector_is_starting_not_a_problem():
    fresh = connector(status="stale", last_seen_at=None, gateway=None,
                      created_at="2026-11-24T19:59:00Z")
    view = connectors_page([fresh], NOW)
    assert view["connectors"][0]["badge_text"] == "Starting"
    assert view["connectors"][0]["gateway_sentence"].startswith("No gateway report yet")
    assert topics_with_hosts(view) == {}
    silent = connector(status="stale", last_seen_at=None, gateway=None,
                       created_at="2026-11-24T19:00:00Z")
    view = connectors_page([silent], NOW)
    assert view["connectors"][0]["badge_text"] == "Not responding"
    assert topics_with_hosts(view) == {"connector-offline": ["DESK"]}
