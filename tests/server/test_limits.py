"""Limits per connector and per user: advertised with the intervals; past one, a 413 or a 429
with Retry-After that names the limit (Veracity-Limit header), and nothing stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.server.helpers import build_world
from tests.support.server_fixtures import snapshot_body
from veracity_server.db import database
from veracity_server.models import SnapshotDocument

SNAPSHOTS = "/api/v1/connector/snapshots"
HEARTBEAT = "/api/v1/connector/heartbeat"
BEAT = {"connector_version": "1.0.0", "gateway": {"state": "ok"}}


def _stored(app) -> int:
    with database(app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SnapshotDocument)) or 0)


def _world(make_app, **settings):
    app = make_app(**settings)
    return build_world(app, app.test_client())


def test_the_heartbeat_answer_advertises_the_limits(make_app) -> None:
    world = _world(make_app, VERACITY_LIMIT_POSITIONS_PER_SNAPSHOT=1234)
    answer = world.client.post(HEARTBEAT, json=BEAT, headers=world.key_headers()).get_json()
    assert answer["limits"] == {
        "positions_per_snapshot": 1234, "stop_orders_per_snapshot": 5000,
        "snapshot_bytes": 4 * 1024 * 1024, "snapshots_per_minute": 6000,
        "heartbeats_per_minute": 6000, "storage_bytes_per_user": 2 * 1024**3,
        "history_days_per_request": 2000, "history_positions_per_request": 20_000,
        "history_request_bytes": 4 * 1024 * 1024}


@pytest.mark.parametrize(("setting", "options", "limit"), [
    ("VERACITY_LIMIT_POSITIONS_PER_SNAPSHOT", {"positions": 6, "accounts": 2},
     "positions_per_snapshot"),
    ("VERACITY_LIMIT_STOP_ORDERS_PER_SNAPSHOT", {"stop_orders": 6, "accounts": 2},
     "stop_orders_per_snapshot"),
])
def test_too_many_rows_in_one_snapshot_is_413_naming_the_limit(
        make_app, setting: str, options: dict, limit: str) -> None:
    world = _world(make_app, **{setting: 10})
    response = world.client.post(SNAPSHOTS, json=snapshot_body(**options),
                                 headers=world.key_headers())
    assert response.status_code == 413
    assert response.headers["Veracity-Limit"] == limit
    error = response.get_json()["error"]
    assert error["code"] == "limit_exceeded" and "at most 10" in error["message"]
    assert "has 12" in error["message"]
    assert _stored(world.app) == 0
    # Shown on the page as the last refused snapshot.
    connectors = world.client.get("/api/v1/profile/ibkr/connectors").get_json()["connectors"]
    refusal = next(c for c in connectors if c["id"] == world.connector_id)["last_refusal"]
    assert (refusal["status"], refusal["code"]) == (413, "limit_exceeded")


def test_a_snapshot_over_the_byte_limit_is_413(make_app) -> None:
    world = _world(make_app, VERACITY_LIMIT_SNAPSHOT_BYTES=4096)
    body = snapshot_body(positions=30)
    assert len(json.dumps(body)) > 4096
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    assert response.status_code == 413
    assert response.headers["Veracity-Limit"] == "snapshot_bytes"
    assert _stored(world.app) == 0


def test_too_many_snapshots_a_minute_is_429_with_retry_after(make_app) -> None:
    world = _world(make_app, VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE=3)
    statuses = [world.client.post(SNAPSHOTS, json=snapshot_body(),
                                  headers=world.key_headers()) for _ in range(4)]
    assert [response.status_code for response in statuses] == [201, 201, 201, 429]
    refused = statuses[-1]
    assert refused.headers["Veracity-Limit"] == "snapshots_per_minute"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"]["code"] == "limit_exceeded"
    assert _stored(world.app) == 3


def test_the_snapshot_rate_is_per_connector(make_app) -> None:
    world = _world(make_app, VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE=1)
    from tests.support.server_fixtures import pair

    _, other_key = pair(world.client, world.unused_token, hostname="second-pc")
    for key in (world.key, other_key):
        assert world.client.post(SNAPSHOTS, json=snapshot_body(),
                                 headers=world.key_headers(key)).status_code == 201


def test_too_many_heartbeats_a_minute_is_429_with_retry_after(make_app) -> None:
    world = _world(make_app, VERACITY_LIMIT_HEARTBEATS_PER_MINUTE=2)
    statuses = [world.client.post(HEARTBEAT, json=BEAT, headers=world.key_headers())
                for _ in range(3)]
    assert [response.status_code for response in statuses] == [200, 200, 429]
    assert statuses[-1].headers["Veracity-Limit"] == "heartbeats_per_minute"
    assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_a_full_storage_is_429_until_space_is_freed(make_app) -> None:
    # Snapshots are stored compressed: 100 positions take a few kB.
    world = _world(make_app, VERACITY_LIMIT_STORAGE_BYTES_PER_USER=1024)
    first = world.client.post(SNAPSHOTS, json=snapshot_body(positions=100),
                              headers=world.key_headers())
    assert first.status_code == 201  # under the limit when it arrived
    refused = world.client.post(SNAPSHOTS, json=snapshot_body(), headers=world.key_headers())
    assert refused.status_code == 429
    assert refused.headers["Veracity-Limit"] == "storage_bytes_per_user"
    assert int(refused.headers["Retry-After"]) > 0
    assert _stored(world.app) == 1
