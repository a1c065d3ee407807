"""GET /api/v1/profile/ibkr/portfolio: current accounts, per-currency totals, value history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.server.helpers import build_world
from tests.support.server_fixtures import create_user, issue_token, login, pair, snapshot_body
from veracity_server.profile import portfolio as portfolio_module

PORTFOLIO = "/api/v1/profile/ibkr/portfolio"


def test_empty_portfolio(app, client) -> None:
    build_world(app, client)
    assert client.get(PORTFOLIO).get_json() == {
        "as_of": None, "accounts": [], "net_liquidation_by_currency": {}, "range": "1M",
        "value_history": [], "reconciliation": {"total": 0, "differences": []}}


def test_every_account_is_current_and_currencies_are_not_mixed(app, client) -> None:
    world = build_world(app, client)
    body = snapshot_body(positions=2, stop_orders=1, accounts=3)
    body["accounts"][2]["base_currency"] = "EUR"
    client.post("/api/v1/connector/snapshots", json=body, headers=world.key_headers())
    portfolio = client.get(PORTFOLIO).get_json()
    assert [a["account_id"] for a in portfolio["accounts"]] == ["U1000000", "U1000001",
                                                                "U1000002"]
    assert portfolio["net_liquidation_by_currency"] == {"EUR": "100000.5000",
                                                        "USD": "200001.0000"}
    position = portfolio["accounts"][0]["positions"][0]
    assert position["risk"]["has_stop"] is True  # protective stop from server.profile.risk
    assert portfolio["accounts"][0]["stop_orders"][0]["stop_price"] == "170.0500"


def test_an_account_missing_from_the_newest_snapshot_is_no_longer_current(app, client) -> None:
    world = build_world(app, client)
    now = datetime.now(UTC)
    both = snapshot_body(accounts=2, taken_at=now - timedelta(minutes=10),
                         net_liquidation="10.00")
    only_first = snapshot_body(accounts=1, taken_at=now, net_liquidation="20.00")
    for body in (both, only_first):
        client.post("/api/v1/connector/snapshots", json=body, headers=world.key_headers())
    portfolio = client.get(PORTFOLIO).get_json()
    # U1000001 was closed (or left the IBKR login): its old positions are not shown as live.
    assert [(a["account_id"], a["net_liquidation"]) for a in portfolio["accounts"]] == [
        ("U1000000", "20.00")]
    assert portfolio["net_liquidation_by_currency"] == {"USD": "20.00"}
    # Its history stays for the chart.
    assert {series["account_id"] for series in portfolio["value_history"]} == {"U1000000",
                                                                                "U1000001"}


def test_a_late_snapshot_does_not_bring_back_an_older_state(app, client) -> None:
    world = build_world(app, client)
    now = datetime.now(UTC)
    newer = snapshot_body(accounts=1, taken_at=now, net_liquidation="20.00")
    older_backfill = snapshot_body(accounts=2, taken_at=now - timedelta(minutes=10),
                                   net_liquidation="10.00")
    for body in (newer, older_backfill):
        client.post("/api/v1/connector/snapshots", json=body, headers=world.key_headers())
    accounts = client.get(PORTFOLIO).get_json()["accounts"]
    assert [(a["account_id"], a["net_liquidation"]) for a in accounts] == [("U1000000", "20.00")]


def test_each_connector_contributes_its_newest_snapshot(app, client) -> None:
    world = build_world(app, client)
    _second_id, second_key = pair(client, issue_token(app, "trader@example.com"),
                                  hostname="laptop")
    now = datetime.now(UTC)
    first = snapshot_body(accounts=1, taken_at=now - timedelta(minutes=5),
                          net_liquidation="1.00")
    second = snapshot_body(accounts=2, taken_at=now, net_liquidation="2.00")
    second["accounts"][0]["account_id"] = "U2000000"  # another IBKR login on another machine
    second["accounts"][1]["account_id"] = "U1000000"  # ...that also sees the shared account
    client.post("/api/v1/connector/snapshots", json=first, headers=world.key_headers())
    client.post("/api/v1/connector/snapshots", json=second,
                headers={"Authorization": f"Bearer {second_key}"})
    accounts = {a["account_id"]: a["net_liquidation"]
                for a in client.get(PORTFOLIO).get_json()["accounts"]}
    assert accounts == {"U1000000": "2.00", "U2000000": "2.00"}  # the newest report wins


def test_users_only_see_their_own_portfolio(app, client) -> None:
    world = build_world(app, client)
    client.post("/api/v1/connector/snapshots", json=snapshot_body(),
                headers=world.key_headers())
    create_user(app, "other@example.com")
    other = app.test_client()
    login(other, "other@example.com")
    pair(other, issue_token(app, "other@example.com"))
    assert other.get(PORTFOLIO).get_json()["accounts"] == []


def _series_after(app, client, monkeypatch, snapshots: int, limit: int) -> list[dict]:
    """The 1D value series of one account after `snapshots` a minute apart (the newest now),
    with at most `limit` points drawn per account."""
    monkeypatch.setattr(portfolio_module, "MAX_HISTORY_POINTS_PER_ACCOUNT", limit)
    world = build_world(app, client)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for minutes_ago in range(snapshots):
        response = client.post("/api/v1/connector/snapshots", headers=world.key_headers(),
                               json=snapshot_body(accounts=1, positions=1,
                                                  taken_at=now - timedelta(minutes=minutes_ago),
                                                  net_liquidation=f"{minutes_ago}.00"))
        assert response.status_code == 201, response.get_json()
    series = client.get(PORTFOLIO + "?range=1D").get_json()["value_history"]
    assert len(series) == 1
    return series[0]["points"]


def test_a_range_within_the_limit_draws_every_point(app, client, monkeypatch) -> None:
    points = _series_after(app, client, monkeypatch, snapshots=5, limit=5)
    assert [point["net_liquidation"] for point in points] == ["4.00", "3.00", "2.00", "1.00",
                                                              "0.00"]


def test_a_range_past_the_limit_is_thinned_evenly_keeping_the_newest(
        app, client, monkeypatch) -> None:
    # 12 points, at most 5: every third from the newest, oldest first.
    points = _series_after(app, client, monkeypatch, snapshots=12, limit=5)
    assert [point["net_liquidation"] for point in points] == ["9.00", "6.00", "3.00", "0.00"]
    moments = [point["taken_at"] for point in points]
    assert moments == sorted(moments)
