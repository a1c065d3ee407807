"""History: storage per connector-day and portfolio API latency after a day vs a year.

    .venv/bin/python benchmarks/history.py [--quick] [--positions 276] [--reads 40]
        [--database-url postgresql+psycopg://...]

Seeds history through the real code, time-shifted: every snapshot goes through
`POST /api/v1/connector/snapshots` (Flask's test client: routing, validation, the ingest path;
late snapshots are accepted, so a year ending now can be sent oldest first), and retention runs
(`veracity_server.history.retention.run_connector`) once per simulated hour with that hour as
"now". One connector gets a day of 2-minute snapshots; another a year: 2-minute snapshots for the
last 14 days, and for older days only what retention would keep plus one more per bucket for it
to throw away (two per hour until 90 days, two per day beyond), since sending the 250,000 others
only for retention to delete them would take hours. `--quick` thins the last 14 days to one
snapshot every 30 minutes (the last day stays at 2 minutes) and days 14 to 90 to one an hour, and
finishes in under three minutes.

Prints the bytes a connector sends and stores per day (before retention), the bytes it keeps
after a year (documents and value points, per day of history), and the portfolio
API's p50/p99 (default range, 1M) for the day and the year connectors, then

    history: p50_ms_day=… p50_ms_year=… bytes_per_connector_day=…

where bytes_per_connector_day is what a connector adds to the database in a day before retention
(compressed documents and value points, 2-minute interval); what a year leaves after retention
is printed above it, per day of history. Targets: p50_ms_year <= 50 and within 1.5x of
p50_ms_day.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import func, select  # noqa: E402

from tests.support.server_fixtures import (  # noqa: E402
    TEST_SETTINGS,
    create_user,
    issue_token,
    login,
    pair,
    snapshot_body,
)
from veracity_server.app import create_app  # noqa: E402
from veracity_server.db import database  # noqa: E402
from veracity_server.history import retention  # noqa: E402
from veracity_server.migrate import upgrade_database  # noqa: E402
from veracity_server.models import SnapshotDocument, ValuePoint  # noqa: E402

SNAPSHOT_INTERVAL = timedelta(minutes=2)
P50_TARGET_MS = 50.0
# A value point row: its columns and SQLite's/PostgreSQL's row and index overhead, roughly.
VALUE_POINT_BYTES = 120


def year_of_moments(now: datetime, quick: bool) -> list[datetime]:
    """Snapshot times of the year connector, oldest first."""
    moments: list[datetime] = []
    start = (now - timedelta(days=365)).replace(minute=0, second=0, microsecond=0)
    hour = start
    while hour < now:
        age = now - hour
        if age > timedelta(days=90):
            if hour.hour in (11, 23):  # two a day: retention keeps the later one
                moments.append(hour + timedelta(minutes=30))
        elif age > timedelta(days=14):
            # Two an hour (retention keeps the later); one in --quick (fewer to send).
            moments += [hour + timedelta(minutes=50)] if quick else [
                hour + timedelta(minutes=20), hour + timedelta(minutes=50)]
        else:
            step = SNAPSHOT_INTERVAL if (not quick or age <= timedelta(days=1)) else (
                timedelta(minutes=30))
            moment = hour
            while moment < hour + timedelta(hours=1):
                moments.append(moment)
                moment += step
        hour += timedelta(hours=1)
    return [moment for moment in moments if moment < now]


def day_of_moments(now: datetime) -> list[datetime]:
    """Snapshot times of the day connector: every 2 minutes for 24 hours."""
    return [now - timedelta(days=1) + SNAPSHOT_INTERVAL * index
            for index in range(int(timedelta(days=1) / SNAPSHOT_INTERVAL))]


class Sender:
    """Posts snapshots of one connector built from one template (fresh id, time, value)."""

    def __init__(self, client, key: str, positions: int) -> None:
        per_account = max(1, positions // 3)
        body = snapshot_body(positions=per_account, stop_orders=max(1, per_account // 5),
                             accounts=3, snapshot_id="SNAPSHOT-ID",
                             taken_at=datetime(2000, 1, 1, tzinfo=UTC), net_liquidation="NLV")
        self.template = json.dumps(body, separators=(",", ":"))
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.sent_bytes = 0
        self.sent = 0

    def send(self, moment: datetime, value: int) -> None:
        body = (self.template.replace("SNAPSHOT-ID", str(uuid.uuid4()))
                .replace("2000-01-01T00:00:00Z", moment.isoformat().replace("+00:00", "Z"))
                .replace("NLV", f"{100000 + value}.25"))
        response = self.client.post("/api/v1/connector/snapshots", data=body,
                                    headers=self.headers)
        assert response.status_code == 201, response.get_json()
        self.sent_bytes += len(body)
        self.sent += 1


def read_times(client, reads: int) -> list[float]:
    """Milliseconds per GET of the portfolio (default range), after two warm-up reads."""
    return read_times_alternating([client], reads)[0]


def read_times_alternating(clients: list, reads: int) -> list[list[float]]:
    """`read_times` for each client, their reads taking turns: a shared machine's speed drifts,
    and reads made side by side see the same drift."""
    for client in clients:
        for _ in range(2):
            assert client.get("/api/v1/profile/ibkr/portfolio").status_code == 200
    times: list[list[float]] = [[] for _ in clients]
    for _ in range(reads):
        for client, client_times in zip(clients, times, strict=True):
            started = time.perf_counter()
            response = client.get("/api/v1/profile/ibkr/portfolio")
            client_times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return times


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> int:
    """Seed, thin, read, print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--positions", type=int, default=276)
    parser.add_argument("--reads", type=int, default=40)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", default=None, help="copy the SQLite database here at the end")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the year connector's reads spend their time")
    arguments = parser.parse_args()
    began = time.monotonic()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="veracity-history-") as folder:
        url = arguments.database_url or f"sqlite:///{folder}/history.sqlite3"
        upgrade_database(url)
        app = create_app({**TEST_SETTINGS, "DATABASE_URL": url, "VERACITY_INSTANCE_PATH": folder,
                          "VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE": 10**9,
                          # Retention is driven below with the simulated time.
                          "VERACITY_RETENTION_INTERVAL_S": 86400})
        db = database(app)
        policy = retention.policy(app.extensions["veracity_settings"])
        clients = {}
        senders = {}
        connector_ids = {}
        for name in ("day", "year"):
            client = app.test_client()
            email = f"{name}@example.com"
            create_user(app, email)
            login(client, email)
            connector_ids[name], key = pair(client, issue_token(app, email), hostname=name)
            clients[name] = client
            senders[name] = Sender(app.test_client(), key, arguments.positions)

        now = datetime.now(UTC)
        for index, moment in enumerate(day_of_moments(now)):
            senders["day"].send(moment, index)
        seeded_at = time.monotonic()
        moments = year_of_moments(now, arguments.quick)
        next_retention = moments[0] + timedelta(hours=1)
        for index, moment in enumerate(moments):
            if moment >= next_retention:
                retention.run_connector(db, connector_ids["year"], moment, policy, force=True)
                next_retention = moment + timedelta(hours=1)
            senders["year"].send(moment, index)
        for name in ("day", "year"):
            retention.run_connector(db, connector_ids[name], now, policy, force=True)
        seed_s = time.monotonic() - seeded_at

        with db.sessions() as session:
            def kept(name: str) -> tuple[int, int, int]:
                documents, document_bytes = session.execute(
                    select(func.count(), func.coalesce(func.sum(SnapshotDocument.size_bytes), 0))
                    .where(SnapshotDocument.connector_id == connector_ids[name])).one()
                points = session.scalar(select(func.count()).select_from(ValuePoint).where(
                    ValuePoint.connector_id == connector_ids[name])) or 0
                return int(documents), int(document_bytes), int(points)
            year_documents, year_bytes, year_points = kept("year")
            day_documents, day_bytes, day_points = kept("day")

        day_times, year_times = read_times_alternating([clients["day"], clients["year"]],
                                                       arguments.reads)
        answer_bytes = len(clients["year"].get("/api/v1/profile/ibkr/portfolio").get_data())
        if arguments.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(read_times, clients["year"], 10)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        database(app).dispose()
        if arguments.keep and arguments.database_url is None:
            import shutil

            shutil.copyfile(f"{folder}/history.sqlite3", arguments.keep)

    raw_per_snapshot = senders["day"].sent_bytes / senders["day"].sent
    snapshots_per_day = timedelta(days=1) / SNAPSHOT_INTERVAL
    raw_per_day = raw_per_snapshot * snapshots_per_day
    stored_per_day = day_bytes / day_documents * snapshots_per_day + (
        day_points / day_documents * snapshots_per_day * VALUE_POINT_BYTES)
    retained = year_bytes + year_points * VALUE_POINT_BYTES
    p50_day, p50_year = statistics.median(day_times), statistics.median(year_times)
    kind = "SQLite" if arguments.database_url is None else "the given database"
    print(f"{kind}; book: {arguments.positions} positions in 3 accounts, "
          f"{raw_per_snapshot:,.0f} bytes per snapshot; snapshots sent: day connector "
          f"{senders['day'].sent:,}, year connector {senders['year'].sent:,} "
          f"({'quick' if arguments.quick else 'full'}; seeding and retention took {seed_s:.0f} s)")
    print(f"sent: {raw_per_day:,.0f} bytes of JSON per connector-day at one snapshot every 2 "
          f"minutes; stored (compressed documents and value points, before retention): "
          f"{stored_per_day:,.0f} bytes per connector-day "
          f"({stored_per_day * 365 / 1e9:.2f} GB a year if nothing were thinned)")
    print(f"retained after a year: {year_documents:,} snapshots, {year_points:,} value points, "
          f"{retained:,} bytes = {retained / 365:,.0f} bytes per connector-day of history")
    print(f"portfolio API (range 1M, {answer_bytes:,} bytes): day p50 {p50_day:.1f} ms, p99 "
          f"{p99(day_times):.1f} ms; year p50 {p50_year:.1f} ms, p99 {p99(year_times):.1f} ms "
          f"({arguments.reads} reads each, taking turns, in-process)")
    load_after = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after; {time.monotonic() - began:.0f} s in all")
    met = p50_year <= P50_TARGET_MS and p50_year <= 1.5 * p50_day
    print(f"targets: p50_ms_year <= {P50_TARGET_MS:.0f} and within 1.5x of p50_ms_day: "
          f"{'met' if met else 'NOT met'}")
    print(f"history: p50_ms_day={p50_day:.1f} p50_ms_year={p50_year:.1f} "
          f"bytes_per_connector_day={stored_per_day:.0f}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
