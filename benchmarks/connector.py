"""Benchmark the connector on the demo scenario: requests and time per snapshot, peak RSS and
CPU-seconds per hour of the headless connector at the default intervals.

    .venv/bin/python benchmarks/connector.py [--duration 600]

Starts the gateway simulator (demo book: 3 accounts, 276 positions, prices moving) and the
server (gunicorn, SQLite, default intervals: heartbeat 60 s, snapshot 120 s) on loopback, pairs
a connector, then:
1. takes a cold snapshot (first of a gateway session: orders "pre-flight" retries) and a warm
   one in this process, counting gateway requests and timing them (IBKR's pacing dominates);
2. runs `ibkr-connector run` as a subprocess for --duration seconds and samples its CPU time and
   memory (psutil; peak RSS from the kernel's high-water mark where available).
Targets: RSS < 60 MB, < 30 CPU-seconds per hour. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ibkr_gateway_sim.control import SimulatorControl  # noqa: E402
from tests.support.processes import free_port, running_process  # noqa: E402
from tests.support.server_fixtures import start_live_server  # noqa: E402
from veracity_connector.gateway import GatewayClient, Pacer  # noqa: E402
from veracity_connector.snapshot import take_snapshot  # noqa: E402

EMAIL = "bench@example.com"


def peak_rss_bytes(process: psutil.Process) -> int:
    """The kernel's high-water mark of resident memory (Linux), else the current RSS."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss


def snapshot_cost(gateway_url: str, data_dir: Path) -> None:
    """Cold and warm snapshot: gateway requests and seconds."""
    pacer = Pacer(state_path=data_dir / "pacing.json")
    gateway = GatewayClient.for_url(gateway_url, pacer=pacer)
    try:
        gateway.check_session()
        for label in ("cold (first in the gateway session)", "warm"):
            before = gateway.transport.request_count
            started = time.monotonic()
            snapshot = take_snapshot(gateway)
            elapsed = time.monotonic() - started
            requests_made = gateway.transport.request_count - before
            print(f"snapshot {label}: {requests_made} gateway requests, {elapsed:.1f} s, "
                  f"{len(snapshot.accounts)} accounts, {snapshot.position_count()} positions, "
                  f"{sum(len(a['stop_orders']) for a in snapshot.accounts)} stop orders, "
                  f"payload {len(str(snapshot.payload()))} bytes")
    finally:
        gateway.close()
    print("  (+1 Veracity request per changed snapshot; the tickle and heartbeat are separate: "
          "1 gateway + 1 Veracity request per minute each)")


def run_connector(env: dict[str, str], duration_s: float, log_path: Path) -> None:
    """Run the headless connector and sample CPU and memory."""
    command = [sys.executable, "-m", "veracity_connector", "run"]
    with running_process(command, env=env, cwd=REPO_ROOT, log_path=log_path) as process:
        watched = psutil.Process(process.pid)
        started = time.monotonic()
        startup_cpu = None
        steady_from = None
        peak = 0
        while time.monotonic() - started < duration_s:
            time.sleep(1)
            if process.poll() is not None:
                raise RuntimeError(f"the connector exited: {log_path.read_text()[-2000:]}")
            times = watched.cpu_times()
            peak = max(peak, peak_rss_bytes(watched))
            if startup_cpu is None and time.monotonic() - started >= 5:
                startup_cpu = times.user + times.system
                steady_from = (time.monotonic(), startup_cpu)
        times = watched.cpu_times()
        total_cpu = times.user + times.system
        assert steady_from is not None and startup_cpu is not None
        steady_seconds = time.monotonic() - steady_from[0]
        steady_cpu = total_cpu - steady_from[1]
        per_hour = steady_cpu / steady_seconds * 3600
        print(f"headless connector over {duration_s:.0f} s at default intervals:")
        print(f"  peak RSS: {peak / 1e6:.1f} MB (target < 60 MB)")
        print(f"  CPU: {startup_cpu:.2f} s to start (imports, first session check), then "
              f"{steady_cpu:.2f} s in {steady_seconds:.0f} s → {per_hour:.1f} CPU-s per hour "
              "(target < 30)")


def main() -> None:
    """Start everything, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600,
                        help="seconds to run the headless connector (default 600)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the control client's unverified loopback TLS
    with tempfile.TemporaryDirectory(prefix="connector-bench-") as temporary:
        tmp = Path(temporary)
        port = free_port()
        gateway_url = f"https://127.0.0.1:{port}"
        simulator = [sys.executable, "-m", "ibkr_gateway_sim", "--port", str(port), "--logged-in",
                     "--price-tick", "5"]
        with running_process(simulator, log_path=tmp / "simulator.log",
                             ready_url=f"{gateway_url}/sim/state", verify=False), \
                start_live_server(tmp / "server") as server:
            server.create_user(EMAIL)
            env = {**os.environ, "IBKR_CONNECTOR_HOME": str(tmp / "connector"),
                   "VERACITY_URL": server.base_url, "IBKR_GATEWAY_URL": gateway_url,
                   "IBKR_CONNECTOR_KEY_STORE": "file"}
            pair = subprocess.run([sys.executable, "-m", "veracity_connector", "pair",
                                   server.issue_token(EMAIL)], env=env, capture_output=True,
                                  text=True, check=False)
            if pair.returncode != 0:
                raise SystemExit(f"pairing failed: {pair.stdout}{pair.stderr}")
            snapshot_cost(gateway_url, tmp / "connector" / "data")
            run_connector(env, args.duration, tmp / "connector-run.log")
            counters = SimulatorControl(gateway_url).requests()
            print(f"gateway requests in total: {counters['total']}, refused with 429: "
                  f"{counters['refused_429']}, penalty boxes: {counters['penalty_boxes']}")


if __name__ == "__main__":
    main()
