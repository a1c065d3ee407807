"""A snapshot's statements: on PostgreSQL the plain case (an active key, the connector's usual IP,
room in storage, a new snapshot_id) is one statement, a single round trip; every other case
falls back to the general path and is answered and recorded as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from tests.server.helpers import World, build_world, settle_key
from tests.support.server_fixtures import snapshot_body
from veracity_server.db import database

SNAPSHOTS = "/api/v1/connector/snapshots"
PORTFOLIO = "/api/v1/profile/ibkr/portfolio"
USUAL_IP = "10.1.1.1"


pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_database_url: str) -> str:
    """PostgreSQL only: SQLite, in-process, has no round trips to save."""
    return postgres_database_url


@pytest.fixture
def world(app, client) -> World:
    return settle_key(build_world(app, client))


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement psycopg sends while the test runs."""
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(" ".join(str(query).split()))
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    yield sent


def _post(world: World, body: dict[str, Any], ip: str = USUAL_IP) -> tuple[int, dict[str, Any]]:
    response = world.app.test_client().post(SNAPSHOTS, json=body, headers=world.key_headers(),
                                            environ_base={"REMOTE_ADDR": ip})
    return response.status_code, response.get_json()


def _events(world: World, kind: str) -> int:
    with database(world.app).engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM connector_events WHERE connector_id = :id AND kind = :kind"),
            {"id": world.connector_id, "kind": kind}).scalar_one())


def test_a_plain_snapshot_is_one_statement_and_becomes_current(
        world: World, statements: list[str]) -> None:
    assert _post(world, snapshot_body(net_liquidation="10.00"))[0] == 201  # the usual IP
    statements.clear()
    status, answer = _post(world, snapshot_body(positions=5, net_liquidation="20.00"))
    assert status == 201 and answer["duplicate"] is False
    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH connector AS")
    account = world.client.get(PORTFOLIO).get_json()["accounts"][0]
    assert account["net_liquidation"] == "20.00" and len(account["positions"]) == 5


def test_a_repeat_falls_back_and_is_answered_as_a_duplicate(
        world: World, statements: list[str]) -> None:
    body = snapshot_body()
    assert _post(world, body)[0] == 201
    statements.clear()
    status, answer = _post(world, body)
    assert (status, answer["duplicate"]) == (200, True)
    assert len(statements) > 1  # the one statement stored nothing; the general path answered


def test_a_new_ip_falls_back_and_is_logged_once(world: World, statements: list[str]) -> None:
    assert _post(world, snapshot_body())[0] == 201
    before = _events(world, "new_ip")
    assert _post(world, snapshot_body(), ip="10.2.2.2")[0] == 201
    assert _post(world, snapshot_body(), ip="10.2.2.2")[0] == 201
    assert _events(world, "new_ip") == before + 1


def test_a_revoked_key_stores_nothing(world: World) -> None:
    response = world.app.test_client().post(
        SNAPSHOTS, json=snapshot_body(), headers=world.key_headers(world.revoked_key),
        environ_base={"REMOTE_ADDR": USUAL_IP})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_key"
