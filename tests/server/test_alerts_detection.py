"""Alert detection driven step by step with an explicit clock, on SQLite and PostgreSQL: each
condition opens one incident past its threshold and queues one message per channel, ends once,
and racing passes queue nothing twice. (The worker process itself: test_alerts_worker.py.)"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.server.helpers import EMAIL, World, build_world
from tests.support.server_fixtures import snapshot_body
from veracity_server.alerts import detection
from veracity_server.alerts.model import (
    AlertDelivery,
    AlertIncident,
    AlertKeyRefusal,
    AlertSettings,
)
from veracity_server.alerts.preferences import default_settings
from veracity_server.db import database
from veracity_server.models import Connector, User

T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York: NYSE open


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app, app.test_client())


def enable_alerts(app: Flask, **changes: Any) -> None:
    """Turn e-mail and webhook alerts on for the world's user (schedule: always)."""
    with database(app).sessions() as session:
        user_id = session.scalars(select(User.id).where(User.email == EMAIL)).one()
        settings = default_settings(user_id, T0)
        settings.email_enabled, settings.email_address = True, "me@example.com"
        settings.webhook_enabled, settings.webhook_url = True, "https://hooks.example.com/v"
        settings.webhook_secret = "whsec_" + "A" * 43 + "="
        settings.schedule_kind = "always"
        for name, value in changes.items():
            setattr(settings, name, value)
        session.add(settings)
        session.commit()


def set_connector(app: Flask, connector_id: str, **values: Any) -> None:
    with database(app).engine.begin() as connection:
        connection.execute(update(Connector).where(Connector.id == connector_id).values(**values))


def incidents(app: Flask) -> list[AlertIncident]:
    with database(app).sessions() as session:
        return list(session.scalars(select(AlertIncident).order_by(AlertIncident.id)))


def queued(app: Flask) -> list[tuple[str, str, str]]:
    """(kind of its incident, event, channel) of every queued delivery."""
    with database(app).sessions() as session:
        rows = session.execute(select(AlertIncident.kind, AlertDelivery.event,
                                      AlertDelivery.channel)
                               .join(AlertIncident, AlertIncident.id ==
                                     AlertDelivery.incident_id)
                               .order_by(AlertDelivery.id)).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]


def run(app: Flask, now: datetime, latest: str | None = None) -> None:
    detection.run_detection(database(app), now, latest, "https://veracity.example.com")


@pytest.mark.parametrize(("state", "kind", "threshold_s"), [
    ("unauthenticated", "gateway_login", 300), ("competing", "competing", 1800)])
def test_a_gateway_state_alerts_after_its_threshold_once_and_resolves_once(
        app: Flask, world: World, state: str, kind: str, threshold_s: int) -> None:
    enable_alerts(app, silent_after_s=86400)  # heartbeats stand still in this test
    set_connector(app, world.connector_id, last_seen_at=T0, gateway_state=state,
                  gateway_state_since=T0)
    run(app, T0 + timedelta(seconds=threshold_s - 1))
    assert [row.kind for row in incidents(app)] == [kind]
    assert queued(app) == []  # open, but below its threshold
    run(app, T0 + timedelta(seconds=threshold_s + 1))
    run(app, T0 + timedelta(seconds=threshold_s + 2))
    assert queued(app) == [(kind, "opened", "email"), (kind, "opened", "webhook")]

    later = T0 + timedelta(seconds=threshold_s + 30)
    set_connector(app, world.connector_id, last_seen_at=later, gateway_state="ok",
                  gateway_state_since=later)
    run(app, later)
    run(app, later + timedelta(seconds=1))
    assert queued(app)[2:] == [(kind, "resolved", "email"), (kind, "resolved", "webhook")]
    assert incidents(app)[0].resolved_at == later


def test_a_gateway_state_that_ends_below_its_threshold_sends_nothing(
        app: Flask, world: World) -> None:
    enable_alerts(app, silent_after_s=86400)
    set_connector(app, world.connector_id, last_seen_at=T0, gateway_state="unauthenticated",
                  gateway_state_since=T0)
    run(app, T0 + timedelta(seconds=60))
    set_connector(app, world.connector_id, gateway_state="ok")
    run(app, T0 + timedelta(seconds=400))
    assert incidents(app)[0].resolved_at is not None and queued(app) == []


def test_a_silent_connector_has_no_gateway_alert_but_a_silent_one(
        app: Flask, world: World) -> None:
    enable_alerts(app)
    set_connector(app, world.connector_id, last_seen_at=T0, gateway_state="unauthenticated",
                  gateway_state_since=T0)
    run(app, T0 + timedelta(hours=1))  # silent for an hour: the gateway state is stale
    assert [row.kind for row in incidents(app)] == ["silent"]
    assert queued(app) == [("silent", "opened", "email"), ("silent", "opened", "webhook")]


def test_a_revoked_key_still_used_alerts_and_ends_when_it_stops(
        app: Flask, world: World) -> None:
    enable_alerts(app)
    answer = app.test_client().post("/api/v1/connector/heartbeat", json={
        "connector_version": "1.0.0", "gateway": {"state": "ok"}},
        headers=world.key_headers(world.revoked_key))
    assert answer.status_code == 401
    with database(app).sessions() as session:
        refusal = session.scalars(select(AlertKeyRefusal)).one()
    now = refusal.last_refused_at + timedelta(seconds=5)
    run(app, now)
    assert [(row.kind, row.connector_id != world.connector_id) for row in incidents(app)] == [
        ("key_refused", True)]
    assert queued(app) == [("key_refused", "opened", "email"),
                           ("key_refused", "opened", "webhook")]
    run(app, now + detection.REFUSAL_WINDOW)
    assert incidents(app)[0].resolved_at is not None
    # An unknown key is not anyone's: nothing is noted.
    app.test_client().post("/api/v1/connector/heartbeat", json={}, headers={
        "Authorization": "Bearer vck_unknown"})
    with database(app).sessions() as session:
        assert session.scalars(select(AlertKeyRefusal.refusals)).all() == [1]


def test_refused_snapshots_alert_until_one_is_accepted(app: Flask, world: World) -> None:
    enable_alerts(app)
    client = app.test_client()
    future = datetime.now(UTC) + timedelta(days=1)
    refused = client.post("/api/v1/connector/snapshots", json=snapshot_body(taken_at=future),
                          headers=world.key_headers())
    assert refused.status_code == 400
    now = datetime.now(UTC)
    run(app, now)
    assert [row.kind for row in incidents(app)] == ["snapshots_refused"]
    assert "taken_at" in incidents(app)[0].detail
    accepted = client.post("/api/v1/connector/snapshots",
                           json=snapshot_body(taken_at=datetime.now(UTC)),
                           headers=world.key_headers())
    assert accepted.status_code == 201
    run(app, datetime.now(UTC))
    assert incidents(app)[0].resolved_at is not None
    assert [event for _, event, _ in queued(app)] == ["opened", "opened", "resolved",
                                                      "resolved"]


def test_an_older_connector_version_alerts_unless_turned_off(app: Flask, world: World) -> None:
    enable_alerts(app, update_alerts=False)
    set_connector(app, world.connector_id, last_seen_at=T0)
    run(app, T0, latest="1.2.0")
    assert incidents(app) == []
    with database(app).engine.begin() as connection:
        connection.execute(update(AlertSettings).values(update_alerts=True))
    run(app, T0, latest="1.2.0")
    run(app, T0, latest="not-a-version")  # unparsable: not older, so it ends
    assert [(row.kind, row.resolved_at) for row in incidents(app)] == [
        ("update_available", T0)]
    assert "1.0.0" in incidents(app)[0].detail


def test_racing_passes_queue_each_message_once(app: Flask, world: World) -> None:
    enable_alerts(app)
    set_connector(app, world.connector_id, last_seen_at=T0)
    now = T0 + timedelta(hours=1)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def one_pass() -> None:
        try:
            barrier.wait()
            run(app, now)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=one_pass) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert [row.kind for row in incidents(app)] == ["silent"]
    assert queued(app) == [("silent", "opened", "email"), ("silent", "opened", "webhook")]


def test_the_nyse_schedule_holds_alerts_outside_market_hours(app: Flask, world: World) -> None:
    enable_alerts(app, schedule_kind="nyse")
    thanksgiving = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)  # a Thursday; NYSE closed
    set_connector(app, world.connector_id, last_seen_at=thanksgiving - timedelta(hours=1))
    run(app, thanksgiving)
    assert [row.kind for row in incidents(app)] == ["silent"] and queued(app) == []
    run(app, datetime(2026, 11, 27, 18, 30, tzinfo=UTC))  # 13:30 New York: early close
    assert queued(app) == []
    run(app, datetime(2026, 11, 30, 14, 31, tzinfo=UTC))  # Monday 09:31 New York
    assert len(queued(app)) == 2


def test_old_settled_rows_are_pruned_and_pending_ones_kept(app: Flask, world: World) -> None:
    from veracity_server.alerts import deliveries

    enable_alerts(app)
    set_connector(app, world.connector_id, last_seen_at=T0)
    run(app, T0 + timedelta(hours=1))  # opened: two deliveries queued
    with database(app).engine.begin() as connection:
        connection.execute(update(AlertDelivery).values(status="sent"))
    set_connector(app, world.connector_id, last_seen_at=T0 + timedelta(hours=2))
    run(app, T0 + timedelta(hours=2))  # resolved: two more, left pending
    later = T0 + deliveries.KEEP + timedelta(days=1)
    assert deliveries.prune(database(app), T0 + timedelta(days=1)) == 0  # too young
    deliveries.prune(database(app), later)
    # Pending deliveries keep their incident (it still has something to send).
    assert [event for _, event, _ in queued(app)] == ["resolved", "resolved"]
    with database(app).engine.begin() as connection:
        connection.execute(update(AlertDelivery).values(status="failed"))
    deliveries.prune(database(app), later)
    assert queued(app) == [] and incidents(app) == []


def test_alerts_worker_once_runs_one_pass_and_exits(sqlite_database_url: str,
                                                    tmp_path: Any) -> None:
    """`veracity-server alerts-worker --once`: a silent connector's alert reaches the SMTP
    server and the command exits 0."""
    import os
    import subprocess
    import sys

    from tests.server.alerts_support import smtp_server
    from tests.support.server_fixtures import TEST_SETTINGS
    from veracity_server.app import create_app

    with smtp_server() as (smtp_port, box):
        settings = {**TEST_SETTINGS, "DATABASE_URL": sqlite_database_url,
                    "VERACITY_INSTANCE_PATH": str(tmp_path / "instance"),
                    "VERACITY_SMTP_HOST": "127.0.0.1", "VERACITY_SMTP_PORT": str(smtp_port),
                    "VERACITY_SMTP_SECURITY": "none"}
        app = create_app(settings)
        try:
            world = build_world(app, app.test_client())
            enable_alerts(app, webhook_enabled=False)
            set_connector(app, world.connector_id,
                          last_seen_at=datetime.now(UTC) - timedelta(hours=1))
        finally:
            database(app).dispose()
        env = {**os.environ, **{key: str(value) for key, value in settings.items()
                                if key.isupper() and value is not None}}
        result = subprocess.run([sys.executable, "-m", "veracity_server.cli", "alerts-worker",
                                 "--once"], env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert box.subjects("me@example.com") == [
            "Veracity: connector on trader-pc has gone silent"], result.stderr
