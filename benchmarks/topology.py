"""Veracity's production topology under 200 simulated connectors: latency, throughput, losses.

    .venv/bin/python benchmarks/topology.py [--connectors 200] [--seconds 30] [--interval 1]
        [--instances 2] [--workers 3]

Starts the production shape on loopback (tests/support/topology.py: nginx from
deploy/nginx/veracity.conf.template → gunicorn instances → PostgreSQL + Redis), pairs the
connectors through the server's own API (a user logs in, creates a one-time token, the
connector exchanges it), then runs every connector in its own thread for `--seconds`: each
cycle a heartbeat and a new snapshot, delivered through an outbox with the real connector's
client (`veracity_connector.veracity_api.VeracityClient`: timeouts, retries of 502/503/504 and
connection errors honouring Retry-After). Afterwards the outboxes are drained and the
database is compared with what was acknowledged. Prints p50/p99 latency of the connectors'
calls, throughput per gunicorn instance (from nginx's access log) and, last:

    topology: connectors=200 p50_ms=… p99_ms=… lost=0 dup=0

The load generator shares the machine's cores with every server process: compare figures
measured in the same run, not absolute rates. tests/topology/test_production_topology.py
uses the same parts in a short form, with faults.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

from tests.support.server_fixtures import snapshot_body  # noqa: E402
from veracity_connector.veracity_api import VeracityClient, VeracityError  # noqa: E402

USER_EMAIL = "load@example.com"
USER_PASSWORD = "load-test-password-long-enough"  # noqa: S105 — a throwaway test user
HEARTBEAT = {"connector_version": "1.0.0", "uptime_s": 60, "last_snapshot_at": None,
             "gateway": {"state": "ok", "message": None, "port": 5000}}
DEVICE = {"hostname": "load", "platform": "Windows-11", "connector_version": "1.0.0"}
MAX_CONNECTORS = 1000  # bounded: every connector is a thread and a TLS connection
MAX_SECONDS = 600.0


class SimulatedConnector:
    """One connector: heartbeat, then a new snapshot through its outbox, every cycle.

    Like the real engine, a snapshot stays in the outbox until Veracity acknowledges it (201,
    or 200 `duplicate` for a replay whose first answer was lost) and is sent again, with the
    same snapshot_id, on the next cycle when the client's own retries give up.
    """

    def __init__(self, base_url: str, key: str, stop: threading.Event) -> None:
        self.key = key
        self.client = VeracityClient(base_url, timeout_s=20, retries=4, backoff_s=0.5,
                                     stop_event=stop)
        self.outbox: collections.deque[dict[str, Any]] = collections.deque()
        self.acknowledged: set[str] = set()
        self.created: collections.Counter[str] = collections.Counter()  # 201 per snapshot_id
        self.latencies_ms: list[float] = []
        self.failures: collections.Counter[str] = collections.Counter()

    def _timed(self, call: Any, *arguments: Any) -> Any:
        started = time.perf_counter()
        result = call(*arguments)
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        return result

    def cycle(self) -> None:
        """A heartbeat, a new snapshot into the outbox, then deliver the outbox in order."""
        try:
            self._timed(self.client.heartbeat, self.key, HEARTBEAT)
        except VeracityError as error:
            self.failures[f"heartbeat {type(error).__name__} {error.status}"] += 1
        self.outbox.append(snapshot_body(positions=3, stop_orders=1))
        self.deliver()

    def deliver(self) -> bool:
        """Send what waits in the outbox; False when Veracity stayed unavailable."""
        while self.outbox:
            body = self.outbox[0]
            try:
                duplicate = self._timed(self.client.send_snapshot, self.key, body)
            except VeracityError as error:
                self.failures[f"snapshot {type(error).__name__} {error.status}"] += 1
                return False
            self.acknowledged.add(body["snapshot_id"])
            if not duplicate:
                self.created[body["snapshot_id"]] += 1
            self.outbox.popleft()
        return True

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Cycle every `interval_s` (first at a random offset, so connectors spread) until stop."""
        wait = random.uniform(0, interval_s)
        while not stop.wait(wait):
            started = time.monotonic()
            self.cycle()
            wait = max(0.0, interval_s - (time.monotonic() - started))


def pair_connectors(base_url: str, count: int) -> list[str]:
    """`count` connector keys, each from a one-time token the logged-in user created.

    TLS is verified against REQUESTS_CA_BUNDLE, as the real connector trusts a private CA.
    """
    session = requests.Session()
    login = session.post(f"{base_url}/api/v1/session", timeout=30,
                         json={"email": USER_EMAIL, "password": USER_PASSWORD})
    login.raise_for_status()
    session.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    exchanger = VeracityClient(base_url, timeout_s=30)
    keys = []
    try:
        # One token at a time: create it, exchange it (a user may hold few valid tokens).
        for _ in range(count):
            answer = session.post(f"{base_url}/api/v1/profile/ibkr/tokens", timeout=30)
            answer.raise_for_status()
            keys.append(exchanger.exchange(answer.json()["token"], DEVICE).connector_key)
    finally:
        exchanger.close()
        session.close()
    return keys


@dataclass
class LoadRun:
    """Connectors cycling in threads until `stop()`; `drain()` delivers what is left."""

    connectors: list[SimulatedConnector]
    interval_s: float
    stop_event: threading.Event
    threads: list[threading.Thread] = field(default_factory=list)
    started_at: float = 0.0
    stopped_at: float = 0.0

    @classmethod
    def start(cls, base_url: str, keys: Sequence[str], interval_s: float) -> LoadRun:
        """One thread per connector, cycling every `interval_s`."""
        stop = threading.Event()
        run = cls([SimulatedConnector(base_url, key, stop) for key in keys],
                  interval_s, stop)
        run.started_at = time.monotonic()
        for number, connector in enumerate(run.connectors):
            thread = threading.Thread(target=connector.run, args=(stop, interval_s),
                                      name=f"connector-{number}", daemon=True)
            thread.start()
            run.threads.append(thread)
        return run

    def acknowledged(self) -> int:
        """Snapshots acknowledged so far, over all connectors."""
        return sum(len(connector.acknowledged) for connector in self.connectors)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop cycling and wait for the threads (a call in flight finishes first)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.stopped_at = time.monotonic()
        alive = [thread.name for thread in self.threads if thread.is_alive()]
        if alive:
            raise RuntimeError(f"{len(alive)} connector threads did not stop: {alive[:5]}")

    def drain(self, rounds: int = 10) -> int:
        """Deliver every outbox (fresh stop event so retries wait); returns snapshots left."""
        for connector in self.connectors:
            connector.client._stop_event = threading.Event()
        for _ in range(rounds):
            waiting = [c for c in self.connectors if c.outbox and not c.deliver()]
            if not waiting:
                break
            time.sleep(1)
        for connector in self.connectors:
            connector.client.close()
        return sum(len(connector.outbox) for connector in self.connectors)

    def latencies_ms(self) -> list[float]:
        """Every call's latency (retries included), in ms."""
        return [value for connector in self.connectors for value in connector.latencies_ms]

    def failures(self) -> collections.Counter[str]:
        """Failed calls (after the client's retries) by kind."""
        total: collections.Counter[str] = collections.Counter()
        for connector in self.connectors:
            total.update(connector.failures)
        return total


@dataclass
class Tally:
    """What the database holds compared with what connectors were told."""

    acknowledged: int
    lost: int  # acknowledged but not stored
    duplicated: int  # stored (or answered 201) more than once


def tally(run: LoadRun, database_dsn: str) -> Tally:
    """Compare acknowledged snapshot ids with the stored snapshot documents."""
    acknowledged = set().union(*(connector.acknowledged for connector in run.connectors))
    created_twice = sum(1 for connector in run.connectors
                        for count in connector.created.values() if count > 1)
    with psycopg.connect(database_dsn) as connection:
        rows = connection.execute(
            "SELECT snapshot_id, count(*) FROM snapshot_documents GROUP BY snapshot_id"
        ).fetchall()
    stored = {str(snapshot_id): count for snapshot_id, count in rows}
    return Tally(acknowledged=len(acknowledged),
                 lost=sum(1 for snapshot_id in acknowledged if snapshot_id not in stored),
                 duplicated=created_twice + sum(1 for count in stored.values() if count > 1))


@dataclass
class AccessLogLine:
    """One answer as nginx logged it (deploy/nginx/veracity.conf.template's log_format)."""

    at: float
    status: int
    method: str
    uri: str
    upstream: str
    upstream_status: str


def read_access_log(path: Path) -> list[AccessLogLine]:
    """Every answer nginx logged so far."""
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        parts = text.split()
        if len(parts) >= 6:
            lines.append(AccessLogLine(float(parts[0]), int(parts[1]), parts[2], parts[3],
                                       parts[4], parts[5]))
    return lines


def per_instance(lines: Iterable[AccessLogLine], since: float, until: float) -> dict[str, int]:
    """Answers per gunicorn instance (the last upstream nginx tried) between two epoch times."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        if since <= line.at <= until and line.upstream != "-":
            counts[line.upstream.split(",")[-1].strip()] += 1
    return dict(counts)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0..1) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary_line(connectors: int, latencies_ms: Sequence[float], counted: Tally) -> str:
    """The benchmark's last line."""
    return (f"topology: connectors={connectors} p50_ms={percentile(latencies_ms, 0.5):.0f} "
            f"p99_ms={percentile(latencies_ms, 0.99):.0f} lost={counted.lost} "
            f"dup={counted.duplicated}")


def create_user_with_cli(database_url: str, env: dict[str, str]) -> None:
    """The load's user, made by `veracity-server create-user` (password on stdin)."""
    subprocess.run([sys.executable, "-m", "veracity_server.cli", "create-user", USER_EMAIL,
                    "--password-stdin"], input=USER_PASSWORD, text=True, check=True,
                   capture_output=True, env={**os.environ, **env, "DATABASE_URL": database_url})


def main(argv: Sequence[str] | None = None) -> int:
    """Start the topology, pair, load, drain, count, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectors", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between a connector's cycles (heartbeat + snapshot)")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers per instance")
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.connectors <= MAX_CONNECTORS or not 0 < arguments.seconds <= MAX_SECONDS:
        parser.error(f"--connectors 1..{MAX_CONNECTORS}, --seconds up to {MAX_SECONDS:g}")

    from tests.support.topology import production_topology

    with tempfile.TemporaryDirectory(prefix="veracity-topology-") as folder, \
            production_topology(Path(folder), instances=arguments.instances,
                                workers=arguments.workers,
                                env={"VERACITY_EXCHANGE_RATE_LIMIT": "10000 per minute"}) as topo:
        create_user_with_cli(topo.database_url, topo.instance_env)
        # The connectors trust the topology's certificate as the real one trusts a private CA.
        os.environ["REQUESTS_CA_BUNDLE"] = str(topo.certificate)
        print(f"pairing {arguments.connectors} connectors through {topo.nginx_url} ...",
              flush=True)
        keys = pair_connectors(topo.nginx_url, arguments.connectors)
        wall_start = time.time()
        run = LoadRun.start(topo.nginx_url, keys, arguments.interval)
        time.sleep(arguments.seconds)
        run.stop()
        wall_end = time.time()
        left = run.drain()
        counted = tally(run, topo.postgres.dsn(topo.database_url.rsplit("/", 1)[-1]))
        lines = read_access_log(topo.access_log)
        latencies = run.latencies_ms()
        seconds = wall_end - wall_start
        print(f"{len(latencies)} calls in {seconds:.1f} s ({len(latencies) / seconds:.0f}/s), "
              f"{counted.acknowledged} snapshots acknowledged, {left} left in outboxes, "
              f"failures after retries: {dict(run.failures()) or 'none'}")
        for upstream, count in sorted(per_instance(lines, wall_start, wall_end).items()):
            print(f"instance {upstream}: {count} answers, {count / seconds:.1f}/s")
        statuses = collections.Counter(line.status for line in lines)
        print(f"nginx statuses: {dict(sorted(statuses.items()))}; "
              f"latency p50/p90/p99/max ms: {percentile(latencies, 0.5):.0f}/"
              f"{percentile(latencies, 0.9):.0f}/{percentile(latencies, 0.99):.0f}/"
              f"{max(latencies, default=float('nan')):.0f} "
              f"(mean {statistics.fmean(latencies) if latencies else float('nan'):.0f})")
        print(summary_line(arguments.connectors, latencies, counted), flush=True)
    return 0 if counted.lost == 0 and counted.duplicated == 0 and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
