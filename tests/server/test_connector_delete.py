"""Revoked means not current (kept for history); deleting a connector removes its data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.server.helpers import EMAIL, World, build_world
from tests.support.server_fixtures import create_user, issue_token, login, pair, snapshot_body
from veracity_server.db import database
from veracity_server.models import Connector, SnapshotDocument, ValuePoint

SNAPSHOTS = "/api/v1/connector/snapshots"
PORTFOLIO = "/api/v1/profile/ibkr/portfolio"
CONNECTORS = "/api/v1/profile/ibkr/connectors"


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _send(world: World, key: str, **options: object) -> dict:
    body = snapshot_body(**options)  # type: ignore[arg-type]
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers(key))
    assert response.status_code == 201, response.get_json()
    return body


def _revoke(world: World, connector_id: str) -> None:
    response = world.client.post(f"{CONNECTORS}/{connector_id}/revoke",
                                 headers={"X-CSRF-Token": world.csrf})
    assert response.status_code == 200


def _count(world: World, model: type) -> int:
    with database(world.app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_revoked_connectors_accounts_are_kept_but_not_current(world: World) -> None:
    _send(world, world.key, accounts=1, net_liquidation="500.00")
    _revoke(world, world.connector_id)
    portfolio = world.client.get(PORTFOLIO).get_json()
    account = portfolio["accounts"][0]
    assert account["current"] is False and account["connector_id"] == world.connector_id
    assert account["positions"]  # kept for history
    assert portfolio["net_liquidation_by_currency"] == {}  # not counted as current
    assert portfolio["as_of"] is None
    assert portfolio["value_history"][0]["points"][0]["net_liquidation"] == "500.00"


def test_a_live_connectors_report_of_the_same_account_wins_over_a_revoked_one(
        world: World) -> None:
    _send(world, world.key, net_liquidation="1.00")
    new_id, new_key = pair(world.client, world.unused_token, hostname="new-pc")
    _send(world, new_key, net_liquidation="2.00",
          taken_at=datetime.now(UTC) - timedelta(hours=1))
    _revoke(world, world.connector_id)
    account = world.client.get(PORTFOLIO).get_json()["accounts"][0]
    assert (account["connector_id"], account["current"]) == (new_id, True)
    assert account["net_liquidation"] == "2.00"


def test_the_page_marks_a_revoked_connectors_accounts(world: World) -> None:
    _send(world, world.key)
    _revoke(world, world.connector_id)
    page = world.client.get("/profile/ibkr").get_data(as_text=True)
    assert "revoked connector" in page and "not current" in page


def test_deleting_needs_a_confirmation(world: World) -> None:
    _send(world, world.key)
    for body in (None, {}, {"confirm": False}):
        response = world.client.delete(f"{CONNECTORS}/{world.connector_id}", json=body,
                                       headers={"X-CSRF-Token": world.csrf})
        assert response.status_code == 400, body
    assert _count(world, SnapshotDocument) == 1


def test_deleting_removes_the_connector_and_everything_it_sent(world: World) -> None:
    for minutes in (30, 20, 10):
        _send(world, world.key, accounts=2, taken_at=datetime.now(UTC) - timedelta(minutes=minutes))
    response = world.client.delete(f"{CONNECTORS}/{world.connector_id}",
                                   json={"confirm": True}, headers={"X-CSRF-Token": world.csrf})
    assert response.status_code == 200
    assert response.get_json() == {"connector_id": world.connector_id, "deleted_snapshots": 3}
    assert _count(world, SnapshotDocument) == 0 and _count(world, ValuePoint) == 0
    with database(world.app).sessions() as session:
        assert session.get(Connector, world.connector_id) is None
    assert world.client.get(PORTFOLIO).get_json()["accounts"] == []
    beat = world.client.post("/api/v1/connector/heartbeat", headers=world.key_headers(),
                             json={"connector_version": "1", "gateway": {"state": "ok"}})
    assert beat.status_code == 401


def test_deleting_needs_the_csrf_token(world: World) -> None:
    response = world.client.delete(f"{CONNECTORS}/{world.connector_id}", json={"confirm": True})
    assert response.status_code == 403


def test_nobody_deletes_another_users_connector(world: World) -> None:
    _send(world, world.key)
    other = world.app.test_client()
    create_user(world.app, "other@example.com")
    csrf = login(other, "other@example.com")
    response = other.delete(f"{CONNECTORS}/{world.connector_id}", json={"confirm": True},
                            headers={"X-CSRF-Token": csrf})
    assert response.status_code == 404
    assert _count(world, SnapshotDocument) == 1
    assert issue_token(world.app, EMAIL)  # the owner is untouched
