"""Small helpers for the server tests: a prepared user + connector, database dumps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.server_fixtures import create_user, issue_token, login, pair
from veracity_server.db import database
from veracity_server.models import Base

EMAIL = "trader@example.com"


@dataclass
class World:
    """A logged-in user with a paired connector, a revoked connector and an unused token."""

    app: Flask
    client: FlaskClient
    csrf: str
    connector_id: str
    key: str
    revoked_key: str
    unused_token: str

    def key_headers(self, key: str | None = None) -> dict[str, str]:
        """Authorization header for the connector key (default: the live one)."""
        return {"Authorization": f"Bearer {key or self.key}"}


def build_world(app: Flask, client: FlaskClient) -> World:
    """Create the user, log in, pair two connectors and revoke one."""
    create_user(app, EMAIL)
    csrf = login(client, EMAIL)
    connector_id, key = pair(client, issue_token(app, EMAIL))
    revoked_id, revoked_key = pair(client, issue_token(app, EMAIL), hostname="old-pc")
    response = client.post(f"/api/v1/profile/ibkr/connectors/{revoked_id}/revoke",
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    return World(app, client, csrf, connector_id, key, revoked_key, issue_token(app, EMAIL))


def settle_key(world: World) -> World:
    """Use the world's key once: its first use settles it (pairing/keys.py), so that what a
    test's own requests change afterwards is theirs alone."""
    settled = world.app.test_client().post(
        "/api/v1/connector/heartbeat", headers=world.key_headers(),
        json={"connector_version": "1.0.0", "gateway": {"state": "ok"}})
    assert settled.status_code == 200, settled.get_data(as_text=True)
    return world


# What a refused snapshot may change: the connector's record of its last refusal (the Profile page
# shows it) and the refusal's event in its audit log, and nothing else.
REFUSAL_COLUMNS = frozenset({"last_refusal_at", "last_refusal_status", "last_refusal_code",
                             "last_refusal_message"})


def dump_database(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the refusal record and events), sorted: a request changed
    nothing."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with database(app).engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [column for column in table.columns if column.name not in REFUSAL_COLUMNS]
            if table.name == "alert_key_refusals":
                continue  # a revoked key's use is counted for its alert (alerts/detection.py)
            query = select(*columns)
            if table.name == "connector_events":
                query = query.where(table.c.kind != "refusal")
            rows = connection.execute(query).all()
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return tables
