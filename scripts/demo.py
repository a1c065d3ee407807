"""`make demo`: the Veracity server on SQLite with a demo user and a fresh pairing token.

Runs gunicorn with the production config on loopback, prints the login, the URLs and a pairing
token, and keeps serving until Ctrl-C. State lives in `.demo/` (git-ignored), so a second run
reuses the user and the database. Options: `--port N` (default 8000, or a free one if taken),
`--demo-dir PATH`. The connector half (scripts/demo_connector.py) adds the IBKR gateway
simulator (demo scenario, logged in) and a paired headless connector syncing to this server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from demo_alerts import alert_settings, alerts_side  # scripts/demo_alerts.py (alerts worker)
from demo_connector import connector_side  # scripts/demo_connector.py (the connector half)

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "veracity-demo"  # noqa: S105 — a published demo login on loopback only
DEFAULT_PORT = 8000


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gunicorn binds: sync workers close every connection, and a port whose last
        # connections linger in TIME_WAIT (a demo just stopped) is free to listen on again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """Any free port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(demo_dir: Path, port: int) -> dict[str, str]:
    """The environment the demo server (and its CLI steps) run with."""
    return {**os.environ, "VERACITY_ENV": "development",
            "VERACITY_INSTANCE_PATH": str(demo_dir / "server"),
            "DATABASE_URL": f"sqlite:///{demo_dir / 'server' / 'veracity.sqlite3'}",
            "VERACITY_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
            # The demo's connector syncs every 30 s (production default: 120 s).
            "VERACITY_SNAPSHOT_INTERVAL_S": os.environ.get("VERACITY_SNAPSHOT_INTERVAL_S", "30")}


def prepare_database(env: dict[str, str]) -> str:
    """Migrate, create the demo user if missing, and return a fresh pairing token."""
    os.environ.update(env)
    from veracity_server.app import create_app
    from veracity_server.db import database
    from veracity_server.migrate import upgrade_database
    from veracity_server.pairing.service import issue_pairing_token
    from veracity_server.users import create_user, find_user

    app = create_app()
    upgrade_database(database(app).url)
    with database(app).sessions() as session:
        user = find_user(session, DEMO_EMAIL) or create_user(session, DEMO_EMAIL, DEMO_PASSWORD)
        token, _ = issue_pairing_token(session, user.id,
                                       app.extensions["veracity_settings"].pairing_token_ttl_s)
    database(app).engine.dispose()
    return token


@contextlib.contextmanager
def running_server(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """gunicorn with gunicorn.conf.py until the block ends; yields the base URL."""
    base_url = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py")],
            env=env, cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited; see {log_path}")
            try:
                if requests.get(f"{base_url}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start within 30 s; see {log_path}")
            time.sleep(0.2)
        yield base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def print_summary(base_url: str, token: str, log_path: Path) -> None:
    """What a person needs to try the product."""
    print(f"""
Veracity server is running (gunicorn, SQLite) — Ctrl-C to stop.

  Profile → IBKR Integration  {base_url}/profile/ibkr
  API (OpenAPI)               {base_url}/api/v1/openapi.json
  Health                      {base_url}/healthz
  Login                       {DEMO_EMAIL} / {DEMO_PASSWORD}
  Server log                  {log_path}

Pairing token (one-time, valid 10 minutes):
  {token}
Pair a connector:  ibkr-connector pair {token}   (with VERACITY_URL={base_url})
""", flush=True)


def main() -> int:
    """Start the demo and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None,
                        help="Veracity's port (default 8000 if free, else a free one)")
    parser.add_argument("--gateway-port", type=int, default=None,
                        help="the gateway simulator's port (default 5000 if free, else a free "
                             "one)")
    parser.add_argument("--demo-dir", type=Path, default=REPO_ROOT / ".demo")
    arguments = parser.parse_args()
    port = arguments.port or (DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port())
    if not port_is_free(port):
        print(f"error: port {port} is in use; pick another with --port", file=sys.stderr)
        return 2
    arguments.demo_dir.mkdir(parents=True, exist_ok=True)
    env = {**server_environment(arguments.demo_dir.resolve(), port),
           **alert_settings()}
    token = prepare_database(env)
    log_path = arguments.demo_dir / "server.log"
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with running_server(env, port, log_path) as base_url, \
            alerts_side(arguments.demo_dir.resolve(), env) as alerts_summary:
        print_summary(base_url, token, log_path)
        print(alerts_summary, flush=True)
        print("Starting the IBKR gateway simulator and a paired headless connector…", flush=True)
        # The connector pairs with its own token: the one printed above stays for the person.
        with connector_side(arguments.demo_dir.resolve(), base_url,
                            lambda: prepare_database(env),
                            arguments.gateway_port) as connector_summary:
            print(connector_summary, flush=True)
            while not stop_requested:
                time.sleep(0.5)
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
