"""POST /api/v1/connector/heartbeat: one small update of the connector row."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import TEST_SETTINGS
from veracity_server.app import create_app
from veracity_server.db import database
from veracity_server.models import Connector

HEARTBEAT = "/api/v1/connector/heartbeat"


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _beat(world: World, key: str | None = None, **changes: object) -> tuple[int, dict]:
    body = {"connector_version": "1.2.3", "uptime_s": 3600,
            "last_snapshot_at": "2026-11-24T10:00:00Z",
            "gateway": {"state": "unauthenticated", "message": "log in at https://localhost:5001",
                        "port": 5001}, **changes}
    response = world.client.post(HEARTBEAT, json=body, headers=world.key_headers(key))
    return response.status_code, response.get_json()


def test_heartbeat_records_liveness_and_the_gateway_report(world: World) -> None:
    status, answer = _beat(world)
    assert status == 200
    assert answer["heartbeat_interval_s"] == 60 and answer["snapshot_interval_s"] == 120
    assert datetime.fromisoformat(answer["server_time"]).tzinfo is not None
    with database(world.app).sessions() as session:
        row = session.get(Connector, world.connector_id)
        assert row is not None
        assert row.connector_version == "1.2.3" and row.uptime_s == 3600
        assert (row.gateway_state, row.gateway_message, row.gateway_port) == (
            "unauthenticated", "log in at https://localhost:5001", 5001)
        assert row.reported_last_snapshot_at == datetime(2026, 11, 24, 10, tzinfo=UTC)
        assert row.last_seen_at is not None


def test_the_answer_is_each_apps_own_and_its_server_time_is_now(world: World,
                                                                make_app) -> None:
    # The answer's fixed part is encoded once per app (ingest/views.py): another app with other
    # settings (on the same database) must not get it, and the server time must not be frozen.
    slow = make_app(VERACITY_HEARTBEAT_INTERVAL_S="300", VERACITY_LATEST_CONNECTOR_VERSION="9.9.9")
    answers = []
    for client in (world.client, slow.test_client(), world.client):
        before = datetime.now(UTC).replace(microsecond=0)
        status, answer = _beat(dataclasses.replace(world, client=client))
        assert status == 200
        assert before <= datetime.fromisoformat(answer["server_time"]) <= datetime.now(UTC)
        answers.append(answer)
    first, other, again = answers
    assert (first["heartbeat_interval_s"], first["latest_version"]) == (60, None)
    assert (other["heartbeat_interval_s"], other["latest_version"]) == (300, "9.9.9")
    assert set(first) == set(other) == {"server_time", "heartbeat_interval_s",
                                         "snapshot_interval_s", "latest_version", "limits"}
    assert first["limits"] == other["limits"] and first["limits"]["snapshots_per_minute"] > 0
    assert {**again, "server_time": None} == {**first, "server_time": None}


def test_heartbeat_is_a_single_update_statement(sqlite_database_url: str, tmp_path) -> None:
    # SQLite's own trace hook sees every statement that reaches the database, whatever layer
    # sent it (the ingest path bypasses SQLAlchemy's statement events).
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": sqlite_database_url,
                      "VERACITY_INSTANCE_PATH": str(tmp_path)})
    world = build_world(app, app.test_client())
    engine = database(app).engine
    engine.dispose()
    statements: list[str] = []

    def trace(connection, _record) -> None:
        connection.set_trace_callback(lambda text: statements.append(text.split()[0].upper()))

    # The first heartbeat records the gateway's first state in the audit log (an INSERT); a
    # heartbeat like any other after it is the one UPDATE.
    assert _beat(world)[0] == 200
    engine.dispose()
    event.listen(engine, "connect", trace)
    try:
        assert _beat(world, connector_version="1.2.4")[0] == 200
    finally:
        event.remove(engine, "connect", trace)
        engine.dispose()
    assert [text for text in statements if text not in {"BEGIN", "COMMIT", "PRAGMA"}] == [
        "UPDATE"]


def test_revoked_key_gets_401_on_its_next_heartbeat(world: World) -> None:
    assert _beat(world)[0] == 200
    world.client.post(f"/api/v1/profile/ibkr/connectors/{world.connector_id}/revoke",
                      headers={"X-CSRF-Token": world.csrf})
    status, answer = _beat(world)
    assert status == 401 and answer["error"]["code"] == "invalid_key"


def test_latest_version_comes_from_the_setting(make_app) -> None:
    app = make_app(VERACITY_LATEST_CONNECTOR_VERSION="2.0.0")
    world = build_world(app, app.test_client())
    assert _beat(world)[1]["latest_version"] == "2.0.0"


def test_heartbeat_does_not_touch_other_connectors(world: World) -> None:
    with database(world.app).sessions() as session:
        before = {row.id: row.last_seen_at for row in session.scalars(select(Connector))}
    _beat(world)
    with database(world.app).sessions() as session:
        after = {row.id: row.last_seen_at for row in session.scalars(select(Connector))}
    changed = [key for key in after if after[key] != before[key]]
    assert changed == [world.connector_id]
