"""Benchmark: a year of history for the demo book, gateway path and Flex path, through a real
server (issue 19).

Starts the gateway simulator (demo scenario, in-process, plain http on loopback, its Flex
service at the same address with the demo token and query) and Veracity under gunicorn on
SQLite, pairs an engine, sets Flex up, then runs the history duties inline (as `sync --once`
does: the gateway's `/pa/performance` once, then one Flex statement for the last 365 published
days) and delivers the outbox until Veracity has acknowledged everything. Prints

    backfill: days=365 gateway_requests=N flex_requests=M seconds=S rows=R bytes=B

gateway_requests: history requests to the gateway (`/pa/performance`); flex_requests: Flex Web
Service calls (SendRequest + GetStatement polls); seconds: from the first history request until
Veracity acknowledged the last batch; rows: daily points Veracity stored (account and day, both
sources) plus the end-of-day positions they carry; bytes: request bodies sent to Veracity's
daily-history endpoint. Run: `.venv/bin/python benchmarks/backfill.py`.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ibkr_gateway_sim.control import SimulatorControl  # noqa: E402
from ibkr_gateway_sim.options import SimulatorOptions  # noqa: E402
from ibkr_gateway_sim.server import SimulatorServer  # noqa: E402
from tests.support.server_fixtures import start_live_server  # noqa: E402
from veracity_connector.credentials import FileStore  # noqa: E402
from veracity_connector.engine import Engine  # noqa: E402
from veracity_connector.history.flex_setup import save_flex_setup  # noqa: E402
from veracity_connector.outbox import HISTORY  # noqa: E402
from veracity_connector.settings import Folders, Settings  # noqa: E402

EMAIL = "backfill@example.com"


def main() -> int:
    """Run the benchmark and print its line."""
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as folder:
        root = Path(folder)
        simulator = SimulatorServer(SimulatorOptions(idle_timeout_s=3600), use_tls=False).start()
        control = SimulatorControl(simulator.base_url)
        try:
            control.configure(preflight_empty_orders=False)
            control.login()
            control.flex_configure(generation_delay_s=1)
            demo = control.flex()["demo"]
            with start_live_server(root / "server") as server:
                server.create_user(EMAIL)
                return run(root, simulator, control, server, demo)
        finally:
            control.close()
            simulator.stop()


def run(root: Path, simulator: SimulatorServer, control: SimulatorControl, server,
        demo: dict) -> int:
    folders = Folders.from_environment({"IBKR_CONNECTOR_HOME": str(root / "connector")})
    settings = Settings(veracity_url=server.base_url, gateway_url=simulator.base_url,
                        key_store="file",
                        flex_url=f"{simulator.base_url}/AccountManagement/FlexWebService")
    engine = Engine(settings, folders, credentials=FileStore(folders.data_dir / "connector-key"),
                    write_status_file=False)
    assert engine.pair(server.issue_token(EMAIL)).ok
    save_flex_setup("file", folders.data_dir, demo["token"], demo["query_id"])
    assert engine.veracity is not None
    engine.session.check()
    engine._take_snapshot(force=True)  # the accounts, as the engine knows them at pairing
    sent_bytes = 0
    original = engine.veracity.send_history

    def counting(key: str, payload):  # type: ignore[no-untyped-def]
        nonlocal sent_bytes
        sent_bytes += len(payload.encode() if isinstance(payload, str) else b"")
        return original(key, payload)

    engine.veracity.send_history = counting  # type: ignore[method-assign]
    started = time.perf_counter()
    engine.history.run_due(gateway_ok=True, flex_in_thread=False)
    key = engine.pairing_changes.current_key()
    assert key is not None
    while engine.outbox.count(HISTORY):
        engine.delivery.send_outbox(key, budget_s=None)
    seconds = time.perf_counter() - started
    engine.stop()
    engine.gateway.close()
    gateway_requests = control.endpoint("/pa/performance")["count"]
    calls = control.flex_requests()["calls"]
    flex_requests = sum(calls.values())
    with sqlite3.connect(server.database_url.removeprefix("sqlite:///")) as connection:
        points, positions = connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(position_count), 0) FROM daily_history_points"
        ).fetchone()
    state = engine.history.state()
    print(f"  gateway: {state.gateway.state}; flex: {state.flex.state} ({state.flex.message})",
          file=sys.stderr)
    print(f"backfill: days=365 gateway_requests={gateway_requests} flex_requests={flex_requests} "
          f"seconds={seconds:.1f} rows={points + positions} bytes={sent_bytes}")
    return 0 if state.gateway.done and state.flex.done else 1


if __name__ == "__main__":
    sys.exit(main())
