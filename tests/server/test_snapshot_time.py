"""Time sanity: a snapshot stamped in the future is refused; a late one never becomes current."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body

SNAPSHOTS = "/api/v1/connector/snapshots"
PORTFOLIO = "/api/v1/profile/ibkr/portfolio"


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _post(world: World, body: dict) -> tuple[int, dict]:
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    return response.status_code, response.get_json()


def test_a_snapshot_minutes_in_the_future_is_refused(world: World) -> None:
    body = snapshot_body(taken_at=datetime.now(UTC) + timedelta(minutes=6))
    status, answer = _post(world, body)
    assert status == 400
    assert answer["error"]["code"] == "invalid_request"
    assert answer["error"]["message"].startswith("taken_at: more than 300 seconds in the future")
    assert world.client.get(PORTFOLIO).get_json()["accounts"] == []


def test_a_snapshot_a_day_ahead_is_refused_and_the_current_state_stays(world: World) -> None:
    assert _post(world, snapshot_body(net_liquidation="10.00"))[0] == 201
    tomorrow = snapshot_body(taken_at=datetime.now(UTC) + timedelta(days=1),
                             net_liquidation="99.00")
    assert _post(world, tomorrow)[0] == 400
    account = world.client.get(PORTFOLIO).get_json()["accounts"][0]
    assert account["net_liquidation"] == "10.00"


def test_a_small_clock_difference_is_accepted(world: World) -> None:
    body = snapshot_body(taken_at=datetime.now(UTC) + timedelta(minutes=2))
    assert _post(world, body)[0] == 201


def test_the_allowed_skew_is_a_setting(make_app) -> None:
    app = make_app(VERACITY_SNAPSHOT_MAX_FUTURE_S=3600)
    world = build_world(app, app.test_client())
    assert _post(world, snapshot_body(taken_at=datetime.now(UTC) + timedelta(minutes=30)))[0] \
        == 201


def test_a_late_snapshot_from_the_outbox_is_kept_but_never_current(world: World) -> None:
    # Half past an hour, 30 to 90 minutes ago: each snapshot below then falls in an hour of its
    # own (the 1W chart keeps one point per hour). "A minute ago" and "an hour ago" shared one
    # whenever the test ran in the first minute of an hour, and a CI run did.
    current_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        minutes=30)
    current = snapshot_body(positions=2, taken_at=current_at, net_liquidation="200.00")
    assert _post(world, current)[0] == 201
    # A backlog delivered afterwards, oldest last: none of it replaces the newer state.
    for hours, value in ((1, "150.00"), (30, "120.00"), (24 * 6, "100.00")):
        late = snapshot_body(positions=7, taken_at=current_at - timedelta(hours=hours),
                             net_liquidation=value)
        assert _post(world, late)[0] == 201
    portfolio = world.client.get(f"{PORTFOLIO}?range=1W").get_json()
    account = portfolio["accounts"][0]
    assert account["snapshot_id"] == current["snapshot_id"]
    assert account["net_liquidation"] == "200.00" and len(account["positions"]) == 2
    # ...but each is a point of the value history (one per hour in the 1W range).
    values = [point["net_liquidation"] for point in portfolio["value_history"][0]["points"]]
    assert values == ["100.00", "120.00", "150.00", "200.00"]


def test_a_late_snapshot_with_the_same_time_as_the_current_one_wins_the_tie(
        world: World) -> None:
    moment = datetime.now(UTC) - timedelta(minutes=5)
    first = snapshot_body(taken_at=moment, net_liquidation="1.00")
    second = snapshot_body(taken_at=moment, net_liquidation="2.00")
    assert _post(world, first)[0] == 201 and _post(world, second)[0] == 201
    account = world.client.get(PORTFOLIO).get_json()["accounts"][0]
    assert account["snapshot_id"] == second["snapshot_id"]
