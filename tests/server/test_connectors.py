"""GET connectors and POST revoke: status online/stale/revoked, idempotent, per user."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.server.helpers import build_world
from tests.support.server_fixtures import create_user, issue_token, login, pair
from veracity_server.columns import utc_now
from veracity_server.db import database
from veracity_server.models import Connector

CONNECTORS = "/api/v1/profile/ibkr/connectors"


def _statuses(client) -> dict[str, str]:
    return {c["hostname"]: c["status"] for c in client.get(CONNECTORS).get_json()["connectors"]}


def test_status_is_online_then_stale_then_revoked(app, client) -> None:
    world = build_world(app, client)
    assert _statuses(client) == {"trader-pc": "stale", "old-pc": "revoked"}  # no heartbeat yet
    client.post("/api/v1/connector/heartbeat", headers=world.key_headers(),
                json={"connector_version": "1.0.0", "gateway": {"state": "ok"}})
    assert _statuses(client)["trader-pc"] == "online"
    with database(app).sessions() as session:  # 2.5 intervals (150 s) and a bit ago
        session.execute(update(Connector).where(Connector.id == world.connector_id)
                        .values(last_seen_at=utc_now() - timedelta(seconds=151)))
        session.commit()
    assert _statuses(client)["trader-pc"] == "stale"


def test_revoke_is_idempotent_and_keeps_the_first_time(app, client) -> None:
    world = build_world(app, client)
    url = f"{CONNECTORS}/{world.connector_id}/revoke"
    first = client.post(url, headers={"X-CSRF-Token": world.csrf}).get_json()["connector"]
    second = client.post(url, headers={"X-CSRF-Token": world.csrf}).get_json()["connector"]
    assert first["status"] == second["status"] == "revoked"
    assert first["revoked_at"] == second["revoked_at"]


def test_a_user_cannot_see_or_revoke_another_users_connector(app, client) -> None:
    world = build_world(app, client)
    create_user(app, "other@example.com")
    other = app.test_client()
    csrf = login(other, "other@example.com")
    pair(other, issue_token(app, "other@example.com"), hostname="other-pc")
    assert _statuses(other) == {"other-pc": "stale"}
    response = other.post(f"{CONNECTORS}/{world.connector_id}/revoke",
                          headers={"X-CSRF-Token": csrf})
    assert response.status_code == 404
    assert _statuses(client)["trader-pc"] == "stale"
