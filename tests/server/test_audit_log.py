"""The connector audit log and health summary: each event kind recorded once where it happens
(pairing, a new client IP, revocation, gateway state transitions, refusals, alerts), newest
first and keyset-paged, pruned by retention; the heartbeat's optional health summary stored,
answered and shown on the Profile page; heartbeats without it still accepted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body
from veracity_server import audit
from veracity_server.db import database
from veracity_server.history import retention
from veracity_server.models import Connector, ConnectorEvent

HEARTBEAT = "/api/v1/connector/heartbeat"
SNAPSHOTS = "/api/v1/connector/snapshots"
HEALTH = {"checked_at": "2026-12-06T22:00:00Z", "checks": [
    {"name": "settings", "level": "ok", "message": "~/.config/veracity/settings.toml (found)"},
    {"name": "java", "level": "warn", "message": "no Java found (JAVA_HOME or PATH)",
     "fix": "install a Java 11+ runtime and restart the connector"},
    {"name": "gateway folder", "level": "fail", "message": "run.bat is missing",
     "fix": "download clientportal.gw.zip from IBKR, unzip it and choose that folder"},
]}


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _events_url(world: World, connector_id: str | None = None) -> str:
    return f"/api/v1/profile/ibkr/connectors/{connector_id or world.connector_id}/events"


def _kinds(world: World) -> list[str]:
    answer = world.client.get(_events_url(world), query_string={"limit": 100})
    assert answer.status_code == 200, answer.get_json()
    return [event["kind"] for event in answer.get_json()["events"]]


def _beat(world: World, ip: str = "127.0.0.1", state: str = "ok", version: str = "1.0.0",
          **extra: Any) -> int:
    body = {"connector_version": version, "uptime_s": 5, "last_snapshot_at": None,
            "gateway": {"state": state, "message": f"gateway {state}", "port": 5000}, **extra}
    response = world.client.post(HEARTBEAT, json=body, headers=world.key_headers(),
                                 environ_base={"REMOTE_ADDR": ip})
    return response.status_code


def test_each_event_kind_is_recorded_once_where_it_happens(world: World) -> None:
    assert _kinds(world) == ["paired"]
    answer = world.client.get(_events_url(world)).get_json()
    assert answer["events"][0]["detail"] == {"hostname": "trader-pc", "platform": "Windows-11",
                                             "ip": "127.0.0.1"}
    # Heartbeats that change other things (the version) but not the state or the IP: one
    # transition (from nothing to ok), no new IP.
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        assert _beat(world, version=version) == 200
    assert _kinds(world) == ["session_state", "paired"]
    # Competing, and back: two transitions however many heartbeats.
    for version in ("1.0.3", "1.0.4"):
        assert _beat(world, state="competing", version=version) == 200
    assert _beat(world, state="ok", version="1.0.5") == 200
    assert _beat(world, state="ok", version="1.0.6") == 200
    assert _kinds(world) == ["session_state"] * 3 + ["paired"]
    events = world.client.get(_events_url(world)).get_json()["events"]
    assert [event["detail"]["state"] for event in events[:3]] == ["ok", "competing", "ok"]
    # A new IP once, however many heartbeats come from it; a snapshot from yet another IP.
    for version in ("1.0.7", "1.0.8"):
        assert _beat(world, ip="10.1.2.3", version=version) == 200
    response = world.client.post(SNAPSHOTS, json=snapshot_body(), headers=world.key_headers(),
                                 environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 201
    response = world.client.post(SNAPSHOTS, json=snapshot_body(), headers=world.key_headers(),
                                 environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 201
    assert _kinds(world)[:2] == ["new_ip", "new_ip"]
    ips = [event["detail"]["ip"] for event in
           world.client.get(_events_url(world)).get_json()["events"][:2]]
    assert ips == ["10.9.9.9", "10.1.2.3"]
    # A refused snapshot (stamped a day ahead).
    late = snapshot_body(taken_at=datetime.now(UTC) + timedelta(days=1))
    response = world.client.post(SNAPSHOTS, json=late, headers=world.key_headers(),
                                 environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 400
    refusal = world.client.get(_events_url(world)).get_json()["events"][0]
    assert refusal["kind"] == "refusal" and refusal["detail"]["status"] == 400
    assert "taken_at" in refusal["detail"]["message"]
    # An alert (the alerts worker's call), then revocation, twice: recorded once.
    audit.record_event(database(world.app), world.connector_id, audit.ALERT_SENT,
                       {"alert": "silent", "channel": "email"})
    for _ in range(2):
        response = world.client.post(
            f"/api/v1/profile/ibkr/connectors/{world.connector_id}/revoke",
            headers={"X-CSRF-Token": world.csrf})
        assert response.status_code == 200
    assert _kinds(world) == ["revoked", "alert_sent", "refusal", "new_ip", "new_ip",
                             "session_state", "session_state", "session_state", "paired"]


def test_the_log_is_paged_newest_first_without_gaps_or_repeats(world: World) -> None:
    db = database(world.app)
    base = datetime(2026, 12, 1, 12, tzinfo=UTC)
    with db.sessions() as session:
        # Ties on `at` (five events per second) must page by id too.
        for number in range(44):
            audit.record_event(session, world.connector_id, "test_event", {"n": number},
                               at=base + timedelta(seconds=number // 5))
        session.commit()
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        answer = world.client.get(_events_url(world), query_string=query).get_json()
        seen += [event["detail"]["n"] for event in answer["events"]
                 if event["kind"] == "test_event"]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # 45 events (44 and "paired"): 20, 20, 5
    assert seen == list(range(43, -1, -1))
    # Another user's connector, a bad id and a bad limit.
    assert world.client.get(_events_url(world, "not-a-uuid")).status_code == 404
    other = world.client.get(_events_url(world, "00000000-0000-4000-8000-000000000000"))
    assert other.status_code == 404
    assert world.client.get(_events_url(world), query_string={"limit": 0}).status_code == 400
    garbage = world.client.get(_events_url(world), query_string={"cursor": "x.y"})
    assert garbage.status_code == 200 and garbage.get_json()["events"][0]["kind"] == "paired"


def test_retention_prunes_events_older_than_the_setting(world: World) -> None:
    db = database(world.app)
    now = datetime.now(UTC)
    with db.sessions() as session:
        audit.record_event(session, world.connector_id, "old_event", at=now - timedelta(days=40))
        audit.record_event(session, world.connector_id, "recent_event",
                           at=now - timedelta(days=20))
        session.commit()
    rules = retention.Policy(keep_all=timedelta(days=14), keep_hourly=timedelta(days=90),
                             interval=timedelta(hours=1), keep_audit=timedelta(days=30))
    outcome = retention.run_connector(db, world.connector_id, now, rules, force=True)
    assert outcome is not None and outcome.deleted_events == 1
    assert _kinds(world) == ["paired", "recent_event"]
    assert retention.policy(world.app.extensions["veracity_settings"]).keep_audit == \
        timedelta(days=365)


def test_the_health_summary_is_stored_answered_and_kept_for_old_connectors(
        world: World) -> None:
    assert _beat(world, health=HEALTH) == 200
    answer = world.client.get(_events_url(world)).get_json()
    assert answer["health"]["checks"][2]["fix"].startswith("download clientportal")
    assert answer["health"]["checked_at"] == "2026-12-06T22:00:00Z"
    # An older connector's heartbeat (no `health`) is accepted and keeps the stored summary.
    assert _beat(world, version="0.9.0") == 200
    with database(world.app).sessions() as session:
        row = session.get(Connector, world.connector_id)
        assert row is not None and row.connector_version == "0.9.0"
        assert json.loads(row.health or "{}")["checks"][1]["name"] == "java"


@pytest.mark.parametrize("health", [
    {"checked_at": "2026-12-06T22:00:00Z",
     "checks": [{"name": f"check {n}", "level": "ok"} for n in range(25)]},
    {"checked_at": "2026-12-06T22:00:00Z", "checks": [{"name": "java", "level": "bad"}]},
    {"checked_at": "2026-12-06T22:00:00Z",
     "checks": [{"name": "java", "level": "ok"}, {"name": "java", "level": "warn"}]},
    {"checked_at": "2026-12-06T22:00:00Z", "checks": [{"name": "Java/Home", "level": "ok"}]},
    {"checked_at": "2026-12-06T22:00:00Z",
     "checks": [{"name": "java", "level": "ok", "message": "x" * 301}]},
    {"checks": []},
])
def test_a_health_summary_beyond_the_contract_is_refused(world: World, health: dict) -> None:
    assert _beat(world, health=health) == 400
    with database(world.app).sessions() as session:
        assert session.scalar(select(Connector.health).where(
            Connector.id == world.connector_id)) is None


def test_the_page_shows_health_with_fix_lines_and_the_activity(world: World) -> None:
    assert _beat(world, health=HEALTH, state="unauthenticated") == 200
    html = world.client.get("/profile/ibkr").get_data(as_text=True)
    assert "Health: 1 failing, 1 warning of 3 checks" in html
    assert "Fix: download clientportal.gw.zip from IBKR" in html
    assert "OK: settings" in html
    assert 'id="activity-card"' in html
    assert "Gateway session needs a login" in html and "from trader-pc" in html
    # The connectors fragment (polled) carries the health too.
    fragment = world.client.get("/profile/ibkr/fragments/connectors").get_data(as_text=True)
    assert "Fix: install a Java 11+ runtime" in fragment


def test_more_pages_come_as_fragments(world: World) -> None:
    with database(world.app).sessions() as session:
        for number in range(12):
            audit.record_event(session, world.connector_id, "test_event", {"n": number})
        session.commit()
    html = world.client.get("/profile/ibkr").get_data(as_text=True)
    assert html.count('data-action="more-events"') == 1
    start = html.index('data-url="', html.index('data-action="more-events"')) + len('data-url="')
    url = html[start:html.index('"', start)].replace("&amp;", "&")
    fragment = world.client.get(url).get_data(as_text=True)
    assert fragment.count("<li class=\"event ") == 3  # 13 events, 10 on the page
    assert "more-events" not in fragment and "n: 1" in fragment and "from trader-pc" in fragment
    with database(world.app).sessions() as session:
        assert session.scalar(select(func.count(ConnectorEvent.id))) >= 13
