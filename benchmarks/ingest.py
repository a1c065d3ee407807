"""Ingest throughput: heartbeats and snapshots against a trivial route, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/ingest.py [--quick] [--seconds 4] [--rounds 3]
        [--connections 8] [--workers 2] [--databases sqlite,postgresql]
        [--database-url postgresql+psycopg://...]

For each database (a fresh SQLite file; a PostgreSQL server of its own, started from the
Debian packages as the tests do, or the given --database-url), starts gunicorn with the
production config (gunicorn.conf.py) on a free loopback port, pairs a connector, then drives three
routes in turn with `wrk` (Debian: `apt-get install wrk`): GET /healthz (baseline), POST heartbeat,
POST snapshots with 50 positions and 10 stop orders (a new snapshot_id per request, so every one
is really stored). The routes take turns for several rounds, so a change in the machine's load
hits all three alike. Prints requests/s and p50/p99 latency per route (medians over the rounds)
and the ratios to the baseline (each round's rate over the same round's baseline, the median of
those: the machine's speed drifts between rounds on a shared host, less within one), plus
gunicorn's own CPU time per request (psutil), which other processes on a shared machine disturb
far less, and (for the PostgreSQL server this script starts) the database server's CPU time per
request. The load generator and PostgreSQL share the machine's cores with the server, so compare
ratios measured in the same run, not absolute rates. Targets:
heartbeats >= 70 % and snapshots >= 35 % of the baseline rate, on each database. The per-connector
rate limits are raised for the run (they are still counted on every request). The last line
gives the lower ratio of the two databases:

    ingest: heartbeat_ratio=0.NN snapshot_ratio=0.NN db=sqlite,postgresql

`--quick` (3 rounds of 2 s per route) takes about a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.server_fixtures import snapshot_body, start_live_server  # noqa: E402

HEARTBEAT_TARGET = 0.70
SNAPSHOT_TARGET = 0.35

# wrk script: fixed method/body/headers; for snapshots a fresh UUID replaces the placeholder in
# each request. `done` prints one JSON line with the figures this script reads.
LUA_TEMPLATE = r"""
local body_template = [==[%(body)s]==]
local fresh_ids = %(fresh_ids)s
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function (c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%%x", v)
  end))
end

-- Split once around the placeholder: a gsub over the whole 16 kB body on every request cost
-- wrk ~0.2 ms of CPU per snapshot, taken from the server on this shared machine.
local body_head, body_tail = body_template, ""
if fresh_ids then
  local first, last = string.find(body_template, "SNAPSHOT_ID_PLACEHOLDER", 1, true)
  body_head = string.sub(body_template, 1, first - 1)
  body_tail = string.sub(body_template, last + 1)
end

request = function()
  local body = body_template
  if fresh_ids then
    body = body_head .. uuid4() .. body_tail
  end
  if wrk.method == "GET" then body = nil end
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"non_2xx": %%d, "socket_errors": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


@dataclass
class Result:
    """One route's figures."""

    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_ms: float  # gunicorn's CPU time (all workers) per request
    wrk_cpu_ms: float  # the load generator's CPU time per request (it shares the cores)
    database_cpu_ms: float | None  # PostgreSQL's server processes per request (None: SQLite)


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children (gunicorn and its
    workers; PostgreSQL's server and its backends)."""
    master = psutil.Process(root_pid)
    total = 0.0
    for process in [master, *master.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def children_cpu_seconds() -> float:
    """CPU time of this script's finished children (the wrk runs; gunicorn is still running)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(name: str, url: str, method: str, body: str, key: str | None, fresh_ids: bool,
            seconds: int, connections: int, work_dir: Path, server_pid: int,
            database_pid: int | None) -> Result:
    """Drive `url` with wrk for `seconds`; returns its figures."""
    script = work_dir / f"{name}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    script.write_text(LUA_TEMPLATE % {"body": body, "fresh_ids": "true" if fresh_ids else "false",
                                      "method": method, "auth": auth})
    cpu_before = tree_cpu_seconds(server_pid)
    database_before = tree_cpu_seconds(database_pid) if database_pid is not None else 0.0
    wrk_before = children_cpu_seconds()
    output = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
         "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    cpu_used = tree_cpu_seconds(server_pid) - cpu_before
    database_used = (tree_cpu_seconds(database_pid) - database_before
                     if database_pid is not None else None)
    wrk_used = children_cpu_seconds() - wrk_before
    figures = json.loads(output.strip().splitlines()[-1])
    requests = max(figures["requests"], 1)
    return Result(name, figures["requests"] / (figures["duration_us"] / 1e6),
                  figures["p50_us"] / 1000, figures["p99_us"] / 1000, figures["non_2xx"],
                  figures["socket_errors"], cpu_used * 1000 / requests, wrk_used * 1000 / requests,
                  None if database_used is None else database_used * 1000 / requests)


def combine(results: list[Result]) -> Result:
    """One route's figures over all rounds: median rate and latencies, summed errors."""
    return Result(results[0].name,
                  statistics.median(result.requests_per_s for result in results),
                  statistics.median(result.p50_ms for result in results),
                  statistics.median(result.p99_ms for result in results),
                  sum(result.non_2xx for result in results),
                  sum(result.socket_errors for result in results),
                  statistics.median(result.server_cpu_ms for result in results),
                  statistics.median(result.wrk_cpu_ms for result in results),
                  None if results[0].database_cpu_ms is None else statistics.median(
                      result.database_cpu_ms or 0.0 for result in results))


# Counted on every request as in production, but high enough for a load generator.
UNTHROTTLED = {"VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE": "100000000",
               "VERACITY_LIMIT_HEARTBEATS_PER_MINUTE": "100000000"}


def measure(database_url: str | None, arguments: argparse.Namespace,
            work_dir: Path, database_pid: int | None) -> tuple[list[list[Result]], int]:
    """Every round's figures of every route (baseline first) on one database, and the snapshot
    body's size."""
    with start_live_server(work_dir, database_url=database_url, workers=arguments.workers,
                           env=UNTHROTTLED) as server:
        server.create_user("bench@example.com")
        _, key = server.pair("bench@example.com")
        heartbeat = json.dumps({
            "connector_version": "1.0.0", "uptime_s": 3600,
            "last_snapshot_at": "2026-01-01T00:00:00Z",
            "gateway": {"state": "ok", "message": None, "port": 5000}})
        snapshot = json.dumps(snapshot_body(positions=50, stop_orders=10,
                                            snapshot_id="SNAPSHOT_ID_PLACEHOLDER"))
        assert server.process is not None
        common = {"seconds": arguments.seconds, "connections": arguments.connections,
                  "work_dir": work_dir, "server_pid": server.process.pid,
                  "database_pid": database_pid}
        routes = [
            ("baseline", server.url("/healthz"), "GET", "", None, False),
            ("heartbeat", server.url("/api/v1/connector/heartbeat"), "POST", heartbeat, key,
             False),
            ("snapshot", server.url("/api/v1/connector/snapshots"), "POST", snapshot, key,
             True),
        ]
        rounds = [[run_wrk(*route, **common) for route in routes]
                  for _ in range(arguments.rounds)]
    return rounds, len(snapshot)


def print_table(title: str, rounds: list[list[Result]]) -> tuple[float, float, bool]:
    """The figures of one database; returns (heartbeat ratio, snapshot ratio, no errors)."""
    results = [combine([round_results[index] for round_results in rounds])
               for index in range(len(rounds[0]))]
    # Each round's rate over the same round's baseline, then the median over the rounds.
    ratios = [statistics.median(round_results[index].requests_per_s
                                / round_results[0].requests_per_s for round_results in rounds)
              for index in range(len(results))]
    print(title)
    print(f"{'route':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'of baseline':>12} "
          f"{'errors':>7} {'server CPU ms/req':>18} {'CPU of baseline':>16} {'wrk CPU ms/req':>15}"
          f" {'PostgreSQL CPU ms/req':>22}")
    for result, ratio in zip(results, ratios, strict=True):
        print(f"{result.name:<10} {result.requests_per_s:>9.1f} {result.p50_ms:>8.2f} "
              f"{result.p99_ms:>8.2f} {ratio:>11.0%} "
              f"{result.non_2xx + result.socket_errors:>7} {result.server_cpu_ms:>18.2f} "
              f"{results[0].server_cpu_ms / result.server_cpu_ms:>15.0%} "
              f"{result.wrk_cpu_ms:>15.2f} "
              f"{'-' if result.database_cpu_ms is None else f'{result.database_cpu_ms:.2f}':>22}")
    clean = all(result.non_2xx + result.socket_errors == 0 for result in results)
    return ratios[1], ratios[2], clean


def main() -> int:
    """Run the benchmark on each database and print the tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 s per route")
    parser.add_argument("--seconds", type=int, default=4, help="per route and round (4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="which databases, in order (default sqlite,postgresql)")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to use instead of starting one")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.seconds, arguments.rounds = 2, 3
    if shutil.which("wrk") is None:
        print("error: wrk is not installed; install it with: apt-get install wrk", file=sys.stderr)
        return 2
    databases = [name.strip() for name in arguments.databases.split(",") if name.strip()]

    ratios: dict[str, tuple[float, float, bool]] = {}
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        for name in databases:
            work_dir = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"veracity-bench-{name}-")))
            url = None
            database_pid = None
            if name == "postgresql":
                url = arguments.database_url
                if url is None:
                    cluster = PostgresCluster.start()
                    stack.callback(cluster.stop)
                    url = cluster.create_database()
                    assert cluster.server.process is not None
                    database_pid = cluster.server.process.pid
            elif name != "sqlite":
                parser.error(f"unknown database {name!r}")
            rounds, body_size = measure(url, arguments, work_dir, database_pid)
            title = (f"\n{name}: gunicorn (gunicorn.conf.py), {arguments.workers} workers; wrk "
                     f"1 thread, {arguments.connections} connections, {arguments.rounds} rounds "
                     f"x {arguments.seconds} s per route; snapshot body {body_size} bytes "
                     f"(50 positions, 10 stop orders)")
            ratios[name] = print_table(title, rounds)
    load_after = os.getloadavg()
    print("(rate ratios are the targets; the CPU columns show the same comparison without the "
          "noise of other processes on the machine)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")
    heartbeat_ratio = min(ratio[0] for ratio in ratios.values())
    snapshot_ratio = min(ratio[1] for ratio in ratios.values())
    verdict = (heartbeat_ratio >= HEARTBEAT_TARGET and snapshot_ratio >= SNAPSHOT_TARGET
               and all(ratio[2] for ratio in ratios.values()))
    print(f"targets: heartbeat >= {HEARTBEAT_TARGET:.0%}, snapshot >= {SNAPSHOT_TARGET:.0%} on "
          f"each database, no errors: {'met' if verdict else 'NOT met'}")
    print(f"ingest: heartbeat_ratio={heartbeat_ratio:.2f} snapshot_ratio={snapshot_ratio:.2f} "
          f"db={','.join(databases)}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
