"""Database trouble answers 503 `database_unavailable` with Retry-After, on the real databases.

A database that is down, restarting, hanging or slower than `VERACITY_DATABASE_TIMEOUT_S` is
not a bug: the connector must see 503 (which it retries, then keeps the snapshot in its outbox),
`/readyz` must say "not ready" and `/healthz` must stay up so nothing restarts healthy workers.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url, text

from tests.support.postgres import PostgresCluster
from tests.support.processes import port_held_by_another_program
from tests.support.server_fixtures import (
    TEST_SETTINGS,
    _migrate,
    create_user,
    issue_token,
    pair,
    snapshot_body,
)
from veracity_server.app import create_app
from veracity_server.db import database
from veracity_server.errors import DATABASE_RETRY_AFTER_S
from veracity_server.settings import SettingsError

EMAIL = "trader@example.com"
HEARTBEAT = {"connector_version": "1.0.0", "uptime_s": 5, "last_snapshot_at": None,
             "gateway": {"state": "ok", "message": None, "port": 5000}}


@pytest.fixture
def build_app(tmp_path: Path) -> Iterator[Any]:
    """create_app on a given database URL (timeout 1 s unless told), engines disposed after."""
    apps: list[Flask] = []

    def build(database_url: str, timeout_s: str = "1") -> Flask:
        app = create_app({**TEST_SETTINGS, "DATABASE_URL": database_url,
                          "VERACITY_DATABASE_TIMEOUT_S": timeout_s,
                          "VERACITY_INSTANCE_PATH": str(tmp_path / "instance")})
        apps.append(app)
        return app

    yield build
    for app in apps:
        database(app).dispose()


def _paired(app: Flask) -> tuple[FlaskClient, str]:
    create_user(app, EMAIL)
    client = app.test_client()
    return client, pair(client, issue_token(app, EMAIL))[1]


def _post_snapshot(client: FlaskClient, key: str, body: dict[str, Any] | None = None) -> Any:
    return client.post("/api/v1/connector/snapshots", json=body or snapshot_body(),
                       headers={"Authorization": f"Bearer {key}"})


def _assert_database_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    # Flask-Limiter raises it to its window's reset on rate-limited routes (login, exchange).
    assert int(response.headers["Retry-After"]) >= DATABASE_RETRY_AFTER_S
    error = response.get_json()["error"]
    assert error["code"] == "database_unavailable"
    assert "nothing was stored" in error["message"] or "not reachable" in error["message"]


@pytest.mark.postgres
def test_postgres_down_answers_503_and_the_service_comes_back(build_app: Any) -> None:
    cluster = PostgresCluster.start()
    try:
        url = cluster.create_database()
        _migrate(url)
        app = build_app(url)
        client, key = _paired(app)
        assert _post_snapshot(client, key).status_code == 201

        cluster.server.stop()
        waiting = snapshot_body()
        _assert_database_unavailable(_post_snapshot(client, key, waiting))
        _assert_database_unavailable(client.post(
            "/api/v1/connector/heartbeat", json=HEARTBEAT,
            headers={"Authorization": f"Bearer {key}"}))
        _assert_database_unavailable(client.get("/readyz"))
        assert client.get("/healthz").status_code == 200

        cluster.server.start()  # same port, same data: the pool reconnects (pre-ping)
        assert client.get("/readyz").status_code == 200
        assert _post_snapshot(client, key, waiting).status_code == 201
    finally:
        cluster.stop()


@pytest.mark.postgres
def test_a_postgres_that_accepts_but_never_answers_is_bounded_by_the_connect_timeout(
        build_app: Any) -> None:
    with port_held_by_another_program() as port:
        app = build_app(f"postgresql+psycopg://nobody@127.0.0.1:{port}/veracity")
        client = app.test_client()
        _assert_database_unavailable(client.get("/readyz"))
        _assert_database_unavailable(client.post("/api/v1/session", json={
            "email": EMAIL, "password": "whatever-it-is"}))
        assert client.get("/healthz").status_code == 200


@pytest.mark.postgres
def test_statement_timeout_ends_a_request_stuck_behind_a_lock(
        build_app: Any, postgres_cluster: PostgresCluster, postgres_database_url: str) -> None:
    app = build_app(postgres_database_url)
    with database(app).engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "1s"
    client, key = _paired(app)
    name = make_url(postgres_database_url).database
    with psycopg.connect(postgres_cluster.dsn(str(name))) as blocker:
        blocker.execute("LOCK TABLE connectors IN ACCESS EXCLUSIVE MODE")
        _assert_database_unavailable(client.post(
            "/api/v1/connector/heartbeat", json=HEARTBEAT,
            headers={"Authorization": f"Bearer {key}"}))
        _assert_database_unavailable(_post_snapshot(client, key))
        assert client.get("/healthz").status_code == 200
        blocker.rollback()
    assert client.post("/api/v1/connector/heartbeat", json=HEARTBEAT,
                       headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_sqlite_busy_timeout_ends_a_request_behind_an_outside_writer(
        build_app: Any, sqlite_database_url: str) -> None:
    app = build_app(sqlite_database_url)
    client, key = _paired(app)
    body = snapshot_body()
    outside = sqlite3.connect(str(make_url(sqlite_database_url).database), timeout=0)
    try:
        outside.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock, like a migration would
        _assert_database_unavailable(_post_snapshot(client, key, body))
        assert client.get("/healthz").status_code == 200
    finally:
        outside.rollback()
        outside.close()
    assert _post_snapshot(client, key, body).status_code == 201  # nothing half-stored


def test_sqlite_write_queue_wait_is_bounded_too(build_app: Any,
                                                sqlite_database_url: str) -> None:
    app = build_app(sqlite_database_url)
    client, key = _paired(app)
    lock_path = f"{make_url(sqlite_database_url).database}.write-lock"
    with open(lock_path, "a+b") as queue_holder:  # another open file: flock conflicts with it
        fcntl.flock(queue_holder, fcntl.LOCK_EX)
        try:
            _assert_database_unavailable(_post_snapshot(client, key))
        finally:
            fcntl.flock(queue_holder, fcntl.LOCK_UN)
    assert _post_snapshot(client, key).status_code == 201


def test_a_sql_mistake_on_sqlite_is_still_a_500(build_app: Any,
                                                sqlite_database_url: str) -> None:
    """Only "busy or away" is 503: SQLite reports SQL mistakes as OperationalError too."""
    app = build_app(sqlite_database_url)

    @app.get("/api/v1/test-sql-mistake")
    def mistake() -> None:
        with database().engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))

    response = app.test_client().get("/api/v1/test-sql-mistake")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"


def test_the_database_timeout_is_parsed_strictly(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="VERACITY_DATABASE_TIMEOUT_S"):
        create_app({**TEST_SETTINGS, "VERACITY_DATABASE_TIMEOUT_S": "soon",
                    "VERACITY_INSTANCE_PATH": str(tmp_path)})
