"""Heartbeats write only what changed: last_seen_at at most every few seconds; a revoked key
is refused at its next heartbeat however recently it beat."""

from __future__ import annotations

import pytest

from tests.server.helpers import World, build_world
from veracity_server.db import database
from veracity_server.models import Connector

HEARTBEAT = "/api/v1/connector/heartbeat"


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _beat(world: World, state: str = "ok", uptime_s: int = 10) -> int:
    body = {"connector_version": "1.0.0", "uptime_s": uptime_s, "gateway": {"state": state}}
    return world.client.post(HEARTBEAT, json=body, headers=world.key_headers()).status_code


def _row(world: World) -> Connector:
    with database(world.app).sessions() as session:
        row = session.get(Connector, world.connector_id)
        assert row is not None
        return row


def test_a_repeat_within_seconds_writes_nothing(world: World) -> None:
    assert _beat(world, uptime_s=10) == 200
    first = _row(world)
    assert _beat(world, uptime_s=11) == 200
    again = _row(world)
    assert (again.last_seen_at, again.uptime_s) == (first.last_seen_at, 10)


def test_a_changed_report_is_written_at_once(world: World) -> None:
    assert _beat(world, state="ok") == 200
    assert _beat(world, state="unauthenticated") == 200
    assert _row(world).gateway_state == "unauthenticated"


def test_a_revoked_key_is_refused_right_after_a_heartbeat(world: World) -> None:
    assert _beat(world) == 200
    response = world.client.post(f"/api/v1/profile/ibkr/connectors/{world.connector_id}/revoke",
                                 headers={"X-CSRF-Token": world.csrf})
    assert response.status_code == 200
    assert _beat(world) == 401
