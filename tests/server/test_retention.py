"""Retention: every snapshot for 14 days, the last of each hour until 90, the last of each day
after; idempotent; safe beside concurrent ingest on SQLite and PostgreSQL; charts per range."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body, start_live_server
from veracity_server.db import Database, database
from veracity_server.history import retention
from veracity_server.models import Connector, SnapshotDocument, ValuePoint

SNAPSHOTS = "/api/v1/connector/snapshots"
POLICY = retention.Policy(keep_all=timedelta(days=14), keep_hourly=timedelta(days=90),
                          interval=timedelta(hours=1))


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _send(world: World, taken_at: datetime, value: str = "100.00") -> str:
    body = snapshot_body(positions=2, stop_orders=1, taken_at=taken_at, net_liquidation=value)
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    assert response.status_code == 201, response.get_json()
    return body["snapshot_id"]


def _kept(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        rows = session.execute(select(SnapshotDocument.snapshot_id, SnapshotDocument.level))
        return dict(rows.all())  # type: ignore[arg-type]


def _points(db: Database) -> list[tuple[int, int]]:
    with db.sessions() as session:
        return sorted(session.execute(select(ValuePoint.document_id, ValuePoint.level)).all())


def _storage_is_counted(db: Database) -> None:
    with db.sessions() as session:
        counted = session.scalar(select(func.sum(Connector.stored_bytes))) or 0
        actual = session.scalar(select(func.sum(SnapshotDocument.size_bytes))) or 0
        assert counted == actual


def _history(now: datetime) -> dict[str, list[datetime]]:
    """Three snapshots in each of two hours, at 100 and 20 days ago; three in the last hour."""
    def hours_of(day: datetime) -> list[datetime]:
        return [day + timedelta(hours=hour, minutes=minute)
                for hour in (0, 1) for minute in (0, 20, 40)]
    day_start = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"100 days": hours_of(day_start - timedelta(days=100)),
            "20 days": hours_of(day_start - timedelta(days=20)),
            "recent": [now - timedelta(minutes=minutes) for minutes in (50, 30, 10)]}


def _one_hour_40_days_ago(now: datetime) -> list[datetime]:
    hour = (now - timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    return [hour + timedelta(minutes=10), hour + timedelta(minutes=20)]


def test_retention_keeps_the_last_of_each_hour_then_of_each_day(world: World) -> None:
    now = datetime.now(UTC)
    sent = {period: [_send(world, moment) for moment in moments]
            for period, moments in _history(now).items()}
    db = database(world.app)
    outcome = retention.run_connector(db, world.connector_id, now, POLICY, force=True)
    assert outcome is not None
    kept = _kept(db)
    old, month, recent = sent["100 days"], sent["20 days"], sent["recent"]
    # 100 days: the last of the day only; 20 days: the last of each hour; recent: everything.
    assert {sid: kept.get(sid) for sid in old} == {**dict.fromkeys(old), old[5]: 3}
    # Both hours are in one four-hour block: the later is the last of block and day (3).
    assert {sid: kept.get(sid) for sid in month} == {
        **dict.fromkeys(month), month[2]: 1, month[5]: 3}
    assert all(sid in kept for sid in recent)
    assert outcome.deleted_documents == 5 + 4
    # The value points went with their documents and carry the same levels.
    with db.sessions() as session:
        documents = dict(session.execute(select(SnapshotDocument.id, SnapshotDocument.level)).all())
    assert _points(db) == sorted(documents.items())
    _storage_is_counted(db)


def test_retention_is_idempotent(world: World) -> None:
    now = datetime.now(UTC)
    for moments in _history(now).values():
        for moment in moments:
            _send(world, moment)
    db = database(world.app)
    retention.run_connector(db, world.connector_id, now, POLICY, force=True)
    kept, points = _kept(db), _points(db)
    again = retention.run_connector(db, world.connector_id, now, POLICY, force=True)
    assert again is not None and again.deleted_documents == 0
    assert (_kept(db), _points(db)) == (kept, points)


def test_the_current_snapshot_is_never_removed(world: World) -> None:
    now = datetime.now(UTC)
    only = _send(world, now - timedelta(days=200, minutes=5))
    db = database(world.app)
    retention.run_connector(db, world.connector_id, now, POLICY, force=True)
    assert only in _kept(db)
    account = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()["accounts"][0]
    assert account["snapshot_id"] == only


def test_it_runs_by_itself_after_a_snapshot_once_per_interval(make_app) -> None:
    app = make_app(VERACITY_RETENTION_INTERVAL_S=3600)
    world = build_world(app, app.test_client())
    now = datetime.now(UTC)
    stale = [_send(world, moment) for moment in _one_hour_40_days_ago(now)]
    # The first snapshot ran retention (nothing was due yet): the next one is an hour away.
    db = database(app)
    with db.sessions() as session:
        due = session.scalar(select(Connector.retention_due_at)
                             .where(Connector.id == world.connector_id))
    assert due is not None and due > now + timedelta(minutes=55)
    # Both were sent after that first run: the second is kept only until the next turn.
    assert set(stale) <= set(_kept(db))
    with db.sessions() as session:
        session.execute(Connector.__table__.update().values(retention_due_at=now))
        session.commit()
    _send(world, now)
    assert stale[1] in _kept(db) and stale[0] not in _kept(db)


def test_a_silent_connector_is_thinned_when_another_one_sends(world: World) -> None:
    now = datetime.now(UTC)
    stale = [_send(world, moment) for moment in _one_hour_40_days_ago(now)]
    db = database(world.app)
    with db.sessions() as session:
        session.execute(Connector.__table__.update().values(retention_due_at=now))
        session.commit()
    from tests.support.server_fixtures import pair

    _, other_key = pair(world.client, world.unused_token, hostname="other-pc")
    world.client.post(SNAPSHOTS, json=snapshot_body(), headers=world.key_headers(other_key))
    assert stale[1] in _kept(db) and stale[0] not in _kept(db)


def test_chart_ranges_come_from_the_downsampled_series(world: World) -> None:
    now = datetime.now(UTC)
    history = _history(now)
    for period, moments in history.items():
        for index, moment in enumerate(moments):
            _send(world, moment, value=f"{len(period)}{index}.00")
    retention.run_connector(database(world.app), world.connector_id, now, POLICY, force=True)

    def points(range_name: str) -> list[str]:
        answer = world.client.get(f"/api/v1/profile/ibkr/portfolio?range={range_name}")
        assert answer.status_code == 200
        assert answer.get_json()["range"] == range_name
        return [point["taken_at"] for point in answer.get_json()["value_history"][0]["points"]]

    recent = history["recent"]
    assert len(points("1D")) == 3  # every recent snapshot
    # The four-hour block 20 days ago, then the last of each recent block.
    assert len(points("1W")) == len({moment.strftime("%d %H") for moment in recent})
    assert len(points("1M")) == 1 + len({(moment.day, moment.hour // 4) for moment in recent})
    # One a day: 100 days ago, 20 days ago, then the recent day(s).
    assert len(points("1Y")) == 2 + len({moment.date() for moment in recent})
    assert points("All") == points("1Y")
    assert world.client.get("/api/v1/profile/ibkr/portfolio?range=5Y").status_code == 400


@pytest.mark.slow
def test_retention_beside_concurrent_ingest_loses_nothing_it_should_keep(
        database_url: str, tmp_path) -> None:
    now = datetime.now(UTC)
    with start_live_server(tmp_path, database_url=database_url, workers=2) as server:
        server.create_user("busy@example.com")
        connector_id, key = server.pair("busy@example.com")
        headers = {"Authorization": f"Bearer {key}"}
        db = Database(server.database_url)
        errors: list[BaseException] = []
        stop = threading.Event()

        def thin() -> None:
            try:
                while not stop.is_set():
                    retention.run_connector(db, connector_id, datetime.now(UTC), POLICY,
                                            force=True)
            except BaseException as error:
                errors.append(error)

        sent_recent: list[str] = []
        late_days: set[object] = set()
        thinner = threading.Thread(target=thin)
        thinner.start()
        try:
            with requests.Session() as session:
                for index in range(60):
                    # Late ones from an outbox (old, thinned at once) beside current ones.
                    age = (timedelta(days=100, minutes=index) if index % 2
                           else timedelta(seconds=index))
                    body = snapshot_body(positions=10, stop_orders=2, taken_at=now - age)
                    response = session.post(server.url(SNAPSHOTS), json=body, headers=headers,
                                            timeout=60)
                    assert response.status_code == 201, response.text
                    if not index % 2:
                        sent_recent.append(body["snapshot_id"])
                    else:
                        late_days.add((now - age).date())
        finally:
            stop.set()
            thinner.join(timeout=120)
        try:
            assert errors == []
            retention.run_connector(db, connector_id, datetime.now(UTC), POLICY, force=True)
            kept = _kept(db)
            assert set(sent_recent) <= set(kept)  # nothing recent lost
            old = [sid for sid in kept if sid not in sent_recent]
            assert len(old) == len(late_days)  # of the 30 late ones, the last of their day
            with db.sessions() as session:
                documents = dict(session.execute(select(SnapshotDocument.id,
                                                        SnapshotDocument.level)).all())
            assert _points(db) == sorted(documents.items())
            _storage_is_counted(db)
            again = retention.run_connector(db, connector_id, datetime.now(UTC), POLICY,
                                            force=True)
            assert again is not None and again.deleted_documents == 0
        finally:
            db.dispose()
