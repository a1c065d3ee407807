"""Daily history (issue 19): POST /api/v1/connector/history/daily on SQLite and PostgreSQL —
idempotent per (account, report date, source), never replacing live snapshots, whole or
nothing, limits with 413/400, reconciliation of matching and differing days (audit event),
retention keeps the points, and the chart's value history marks each point's source."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.server.helpers import World, build_world, dump_database
from tests.support.server_fixtures import snapshot_body
from veracity_server.db import database
from veracity_server.history import retention
from veracity_server.models import (
    ConnectorEvent,
    DailyHistoryPoint,
    ReconciliationDifference,
    SnapshotDocument,
    ValuePoint,
)

HISTORY = "/api/v1/connector/history/daily"
SNAPSHOTS = "/api/v1/connector/snapshots"
PORTFOLIO = "/api/v1/profile/ibkr/portfolio"
ACCOUNT = "U1000000"  # snapshot_body's first account


HEARTBEAT = "/api/v1/connector/heartbeat"
BEAT = {"connector_version": "1.0.0", "gateway": {"state": "ok"}}


def _ready(world: World) -> World:
    # A key's first use settles its record (issue 16's key candidates): beat once, so that
    # "nothing changed" compares the database after that.
    response = world.client.post(HEARTBEAT, json=BEAT, headers=world.key_headers())
    assert response.status_code == 200
    return world


@pytest.fixture
def world(app, client) -> World:
    return _ready(build_world(app, client))


def _day(days_ago: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=days_ago)


def history_body(source: str = "gateway", days: list[date] | None = None,
                 nav: str = "100000.5000", positions: list[dict[str, Any]] | None = None,
                 accounts: tuple[str, ...] = (ACCOUNT,)) -> dict[str, Any]:
    """A batch of one point per day per account (NAV as a decimal string)."""
    chosen = days if days is not None else [_day(ago) for ago in range(3, 0, -1)]
    return {"source": source, "accounts": [{
        "account_id": account, "base_currency": "USD",
        "days": [{"report_date": day.isoformat(), "nav": nav,
                  **({"positions": positions} if positions is not None else {})}
                 for day in chosen]} for account in accounts]}


def flex_positions(quantities: dict[int, str]) -> list[dict[str, Any]]:
    return [{"conid": conid, "symbol": f"SYM{conid - 265598}", "quantity": quantity,
             "market_value": "1000.00", "currency": "USD", "asset_class": "STK"}
            for conid, quantity in quantities.items()]


def _post(world: World, body: dict[str, Any]) -> Any:
    return world.client.post(HISTORY, json=body, headers=world.key_headers())


def _count(world: World, model: Any) -> int:
    with database(world.app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _live_close(world: World, day: date, value: str = "100000.5000",
                positions: int = 3) -> None:
    """A live snapshot at 22:00 UTC of `day` (after the US close: its end-of-day value)."""
    taken_at = datetime(day.year, day.month, day.day, 22, 0, tzinfo=UTC)
    body = snapshot_body(positions=positions, stop_orders=0, taken_at=taken_at,
                         net_liquidation=value)
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    assert response.status_code == 201, response.get_json()


def test_a_batch_is_stored_once_and_a_resend_stores_nothing_new(world: World) -> None:
    first = _post(world, history_body())
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"source": "gateway", "stored": 3, "already_present": 0,
                                "with_live_data": 0, "differences": 0}
    before = dump_database(world.app)
    again = _post(world, history_body(nav="1.00"))  # the first value stays
    assert again.status_code == 200
    assert again.get_json()["stored"] == 0 and again.get_json()["already_present"] == 3
    assert dump_database(world.app) == before
    # Another source for the same days is another point; exact decimals are kept.
    flex = _post(world, history_body("flex", nav="100000.123456789",
                                     positions=flex_positions({265598: "100"})))
    assert flex.get_json()["stored"] == 3
    with database(world.app).sessions() as session:
        navs = session.scalars(select(DailyHistoryPoint.nav)
                               .where(DailyHistoryPoint.source == "flex")).all()
    assert [str(nav) for nav in navs] == ["100000.123456789"] * 3
    assert _count(world, DailyHistoryPoint) == 6


def test_history_never_overwrites_live_snapshots_and_fills_days_without(world: World) -> None:
    live_day = _day(2)
    _live_close(world, live_day, value="5000.0000")
    live_rows = dump_database(world.app)["value_points"]
    documents = _count(world, SnapshotDocument)
    answer = _post(world, history_body(days=[_day(3), live_day, _day(1)], nav="5000.2000"))
    assert answer.get_json()["stored"] == 3 and answer.get_json()["with_live_data"] == 1
    assert dump_database(world.app)["value_points"] == live_rows
    assert _count(world, SnapshotDocument) == documents
    series = world.client.get(f"{PORTFOLIO}?range=1Y").get_json()["value_history"]
    points = next(item for item in series if item["account_id"] == ACCOUNT)["points"]
    by_day = {point["taken_at"][:10]: point for point in points}
    # The live day shows the live value; the other two are history, marked as such.
    assert by_day[live_day.isoformat()]["source"] == "live"
    assert by_day[live_day.isoformat()]["net_liquidation"] == "5000.0000"
    assert by_day[_day(3).isoformat()] == {"taken_at": f"{_day(3).isoformat()}T23:59:59Z",
                                           "net_liquidation": "5000.2000",
                                           "source": "gateway"}
    assert by_day[_day(1).isoformat()]["source"] == "gateway"
    # Flex wins over the gateway for a day both sent; the live day stays live.
    _post(world, history_body("flex", days=[_day(3), live_day], nav="5000.3000"))
    series = world.client.get(f"{PORTFOLIO}?range=All").get_json()["value_history"]
    points = next(item for item in series if item["account_id"] == ACCOUNT)["points"]
    by_day = {point["taken_at"][:10]: point for point in points}
    assert by_day[_day(3).isoformat()]["source"] == "flex"
    assert by_day[live_day.isoformat()]["source"] == "live"


def test_the_backfilled_year_is_in_the_1y_and_all_ranges(world: World) -> None:
    days = [_day(ago) for ago in range(365, 0, -1)]
    answer = _post(world, history_body(days=days))
    assert answer.get_json()["stored"] == 365
    for name in ("1Y", "All"):
        series = world.client.get(f"{PORTFOLIO}?range={name}").get_json()["value_history"]
        points = series[0]["points"]
        assert points[0]["taken_at"][:10] <= _day(300).isoformat(), name
        assert points[-1]["taken_at"][:10] == _day(1).isoformat(), name
        assert {point["source"] for point in points} == {"gateway"}
    month = world.client.get(f"{PORTFOLIO}?range=1M").get_json()["value_history"][0]["points"]
    assert min(point["taken_at"] for point in month)[:10] >= _day(31).isoformat()


def test_a_bad_batch_stores_nothing(world: World) -> None:
    before = dump_database(world.app)
    good = history_body(days=[_day(2), _day(1)])
    bad_cases = [
        # The second account's second day has a float-like garbage NAV: all refused.
        {**good, "accounts": [*good["accounts"], {
            "account_id": "U2", "base_currency": "USD",
            "days": [{"report_date": _day(2).isoformat(), "nav": "1"},
                     {"report_date": _day(1).isoformat(), "nav": "NaN"}]}]},
        history_body(days=[_day(1), _day(1)]),  # a date twice
        history_body(days=[_day(-5)]),  # the future
        history_body(positions=flex_positions({1: "1"})),  # positions claimed by the gateway
        {**good, "source": "csv"},
        history_body(days=[_day(1)]) | {"extra": True},
    ]
    for body in bad_cases:
        response = _post(world, body)
        assert response.status_code == 400, (body, response.get_json())
        assert response.get_json()["error"]["code"] == "invalid_request"
    wrong_date = history_body(days=[_day(1)])
    wrong_date["accounts"][0]["days"][0]["report_date"] = "20261204"
    assert _post(world, wrong_date).status_code == 400
    unauthorized = world.client.post(HISTORY, json=good,
                                     headers=world.key_headers(world.revoked_key))
    assert unauthorized.status_code == 401
    assert unauthorized.get_json()["error"]["code"] == "invalid_key"
    assert dump_database(world.app) == before


@pytest.mark.parametrize(("setting", "body", "limit"), [
    ("VERACITY_LIMIT_HISTORY_DAYS_PER_REQUEST", {"days": 4}, "history_days_per_request"),
    ("VERACITY_LIMIT_HISTORY_POSITIONS_PER_REQUEST", {"days": 2, "positions": 3},
     "history_positions_per_request"),
])
def test_past_a_limit_is_413_naming_it(make_app, setting: str, body: dict[str, int],
                                       limit: str) -> None:
    app = make_app(**{setting: 5})
    world = _ready(build_world(app, app.test_client()))
    answer = world.client.post(HEARTBEAT, json=BEAT, headers=world.key_headers()).get_json()
    assert answer["limits"][limit] == 5
    before = dump_database(app)
    days = [_day(ago) for ago in range(body["days"], 0, -1)]
    positions = flex_positions({265598 + n: "1" for n in range(body.get("positions", 0))})
    response = _post(world, history_body("flex", days=days, positions=positions,
                                         accounts=("U1", "U2")))
    assert response.status_code == 413
    assert response.headers["Veracity-Limit"] == limit
    assert response.get_json()["error"]["code"] == "limit_exceeded"
    assert "5" in response.get_json()["error"]["message"]
    assert dump_database(app) == before


def test_a_body_over_the_byte_limit_is_413(make_app) -> None:
    app = make_app(VERACITY_LIMIT_HISTORY_REQUEST_BYTES=2048)
    world = _ready(build_world(app, app.test_client()))
    before = dump_database(app)
    response = _post(world, history_body(days=[_day(ago) for ago in range(60, 0, -1)]))
    assert response.status_code == 413
    assert response.headers["Veracity-Limit"] == "history_request_bytes"
    assert dump_database(app) == before


def test_reconciliation_of_matching_and_differing_days(world: World) -> None:
    same, nav_off, positions_off, early = _day(4), _day(3), _day(2), _day(1)
    for day in (same, nav_off, positions_off):
        _live_close(world, day, value="100000.0000", positions=3)
    # A snapshot of the morning is no end-of-day value: that day is not reconciled.
    morning = snapshot_body(positions=3, stop_orders=0, net_liquidation="1.0000",
                            taken_at=datetime(early.year, early.month, early.day, 9, 0,
                                              tzinfo=UTC))
    assert world.client.post(SNAPSHOTS, json=morning,
                             headers=world.key_headers()).status_code == 201
    held = {265598: "100", 265599: "101", 265600: "102"}  # snapshot_body's quantities
    batch = {"source": "flex", "accounts": [{"account_id": ACCOUNT, "base_currency": "USD",
                                             "days": [
        # Within max(1, 0.1 %) = 100: equal.
        {"report_date": same.isoformat(), "nav": "100099.9900",
         "positions": flex_positions(held)},
        {"report_date": nav_off.isoformat(), "nav": "100100.0100",
         "positions": flex_positions(held)},
        {"report_date": positions_off.isoformat(), "nav": "100000",
         "positions": flex_positions({265598: "100", 265599: "90", 999: "5"})},
        {"report_date": early.isoformat(), "nav": "5.0000"},
    ]}]}
    answer = _post(world, batch).get_json()
    assert answer == {"source": "flex", "stored": 4, "already_present": 0,
                      "with_live_data": 3, "differences": 2}
    with database(world.app).sessions() as session:
        rows = session.execute(select(
            ReconciliationDifference.report_date, ReconciliationDifference.kind,
            ReconciliationDifference.conid, ReconciliationDifference.live_value,
            ReconciliationDifference.history_value)).all()
        events = session.scalars(select(ConnectorEvent).where(
            ConnectorEvent.kind == "reconciliation_difference")).all()
    assert sorted(rows) == sorted([
        (nav_off, "nav", None, "100000.0000", "100100.0100"),
        (positions_off, "quantity", 999, "0", "5"),
        (positions_off, "quantity", 265599, "101", "90"),
        (positions_off, "quantity", 265600, "102", "0"),
    ])
    assert len(events) == 2 and all(event.connector_id == world.connector_id
                                    for event in events)
    # The profile API (and the page built on it) lists them newest day first, both values.
    listed = world.client.get(PORTFOLIO).get_json()["reconciliation"]
    assert listed["total"] == 4
    assert [(row["report_date"], row["kind"], row["live_value"], row["history_value"])
            for row in listed["differences"]] == [
        (positions_off.isoformat(), "quantity", "0", "5"),
        (positions_off.isoformat(), "quantity", "101", "90"),
        (positions_off.isoformat(), "quantity", "102", "0"),
        (nav_off.isoformat(), "nav", "100000.0000", "100100.0100")]
    page = world.client.get("/profile/ibkr").get_data(as_text=True)
    assert 'id="reconciliation-table"' in page and "100,100.01 USD" in page
    # Sent again: nothing new stored, no second event.
    before = dump_database(world.app)
    again = _post(world, batch).get_json()
    assert again["already_present"] == 4 and again["differences"] == 2
    assert dump_database(world.app) == before


def test_retention_keeps_daily_history_points(world: World) -> None:
    old = [_day(ago) for ago in (400, 200, 100, 30)]
    _post(world, history_body(days=old))
    _post(world, history_body("flex", days=old, positions=flex_positions({265598: "1"})))
    for day in old:
        _live_close(world, day)
    later = datetime.now(UTC) + timedelta(days=30)
    policy = retention.Policy(keep_all=timedelta(days=14), keep_hourly=timedelta(days=90),
                              interval=timedelta(hours=1))
    assert retention.run_due(database(world.app), later, policy, every=True) >= 1
    assert _count(world, DailyHistoryPoint) == 8
    with database(world.app).sessions() as session:
        kept_live = session.scalar(select(func.count()).select_from(ValuePoint)
                                   .where(ValuePoint.level == 3))
    assert kept_live == 4  # the live last-of-day points stay too
    series = world.client.get(f"{PORTFOLIO}?range=All").get_json()["value_history"]
    sources = [point["source"] for point in series[0]["points"]]
    assert sources.count("live") == 4


def test_a_live_close_arriving_after_the_history_is_reconciled_with_the_next_batch(
        world: World) -> None:
    day = _day(3)
    first = _post(world, history_body("flex", days=[day], nav="200.0000")).get_json()
    assert first["with_live_data"] == 0
    _live_close(world, day, value="100.0000")  # late, from the connector's outbox
    assert _count(world, ReconciliationDifference) == 0
    # The next day's batch (the connector sends what Veracity lacks) compares the recent days.
    _post(world, history_body("flex", days=[_day(2)], nav="100.0000"))
    with database(world.app).sessions() as session:
        rows = session.execute(select(ReconciliationDifference.report_date,
                                      ReconciliationDifference.live_value,
                                      ReconciliationDifference.history_value)).all()
    assert rows == [(day, "100.0000", "200.0000")]
