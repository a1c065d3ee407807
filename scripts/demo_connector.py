"""The connector half of `make demo`: the gateway simulator and a paired headless connector.

`connector_side(demo_dir, veracity_url, new_token)` is a context manager used by
scripts/demo.py: it starts the simulator (demo scenario: 3 accounts, prices moving, already
logged in, like a gateway after the browser login) on port 5000 or a free one, pairs a connector
kept in `<demo_dir>/connector` (file key store; reused across runs while its key is accepted),
runs `ibkr-connector run` until the block ends, and yields the lines to print. Every process it
starts is stopped, in reverse order, when the block ends (Ctrl-C included).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from ibkr_gateway_sim.flex.service import DEMO_QUERY_ID, DEMO_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[1]
GATEWAY_PORT = 5000  # the real gateway's default; a free one if taken
PRICE_TICK_S = "10"


def _free_port(preferred: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As servers bind: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


@contextlib.contextmanager
def _child(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A child process in its own group (Ctrl-C reaches only us); SIGTERM'd at the end."""
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{url} did not start; see {log_path}")
        try:
            requests.get(url, timeout=2, verify=False)  # noqa: S501 (self-signed, loopback)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within 30 s; see {log_path}") from None
            time.sleep(0.2)


def _connector(env: dict[str, str], *args: str,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veracity_connector", *args], env=env,
                          cwd=REPO_ROOT,
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


def _connector_state(env: dict[str, str]) -> str:
    result = _connector(env, "status", "--json")
    try:
        return str(json.loads(result.stdout)["state"])
    except (ValueError, KeyError):
        return "unknown"


def _key_accepted(veracity_url: str, key: str) -> bool:
    """True unless Veracity answers a heartbeat with this key with 401 (unknown or revoked)."""
    response = requests.post(f"{veracity_url}/api/v1/connector/heartbeat", timeout=10,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"connector_version": "demo", "gateway": {"state": "ok"}})
    return response.status_code != 401


def _pair(env: dict[str, str], new_token: Callable[[], str]) -> None:
    # The token goes through stdin, not the command line (process lists are readable).
    result = _connector(env, "pair", "-", stdin=new_token() + "\n")
    if result.returncode != 0:
        raise SystemExit(f"pairing the demo connector failed: {result.stdout}{result.stderr}")


@contextlib.contextmanager
def connector_side(demo_dir: Path, veracity_url: str, new_token: Callable[[], str],
                   gateway_port: int | None = None) -> Iterator[str]:
    """Simulator + paired headless connector for the block; yields the summary to print.

    `gateway_port`: the simulator's port (default: 5000 if free, else a free one).
    """
    import warnings

    warnings.simplefilter("ignore")  # loopback self-signed TLS in the readiness probe
    port = gateway_port or _free_port(GATEWAY_PORT)
    gateway_url = f"https://127.0.0.1:{port}"
    simulator_log = demo_dir / "simulator.log"
    connector_home = demo_dir / "connector"
    env = {**os.environ, "IBKR_CONNECTOR_HOME": str(connector_home),
           "VERACITY_URL": veracity_url, "IBKR_GATEWAY_URL": gateway_url,
           "IBKR_CONNECTOR_KEY_STORE": "file"}
    env.pop("VERACITY_CONNECTOR_KEY", None)
    simulator = [sys.executable, "-m", "ibkr_gateway_sim", "--port", str(port), "--logged-in",
                 "--price-tick", PRICE_TICK_S]
    with _child(simulator, env, simulator_log) as gateway:
        _wait_until_up(f"{gateway_url}/sim/state", gateway, simulator_log)
        # Flex (opt-in) against the simulator's Flex Web Service: its address, and its
        # self-signed certificate as the only one trusted (IBKR's real service needs neither).
        flex_url = f"{gateway_url}/AccountManagement/FlexWebService"
        simulator_ca = demo_dir / "simulator-certificate.pem"
        certificate_url = f"{gateway_url}/sim/certificate"
        # The loopback simulator's own certificate, fetched from it.
        pem = requests.get(certificate_url, verify=False, timeout=10).text  # noqa: S501
        simulator_ca.write_text(pem)
        env.update({"IBKR_CONNECTOR_FLEX_URL": flex_url, "REQUESTS_CA_BUNDLE": str(simulator_ca)})
        key_file = connector_home / "data" / "connector-key"
        # A key kept from an earlier run may have been revoked on the page, or belong to a demo
        # database since deleted: the connector would find out only at its first snapshot.
        if key_file.exists() and not _key_accepted(veracity_url, key_file.read_text().strip()):
            _connector(env, "unpair")
        if not key_file.exists():
            _pair(env, new_token)
        connector_log = demo_dir / "connector.log"
        with _child([sys.executable, "-m", "veracity_connector", "run"], env, connector_log):
            deadline = time.monotonic() + 20
            state = _connector_state(env)
            while state in {"not_running", "needs_token", "unknown"} and (
                    time.monotonic() < deadline):
                time.sleep(1)
                state = _connector_state(env)
            yield f"""IBKR gateway simulator      {gateway_url}  (demo book: 3 accounts, prices move every {PRICE_TICK_S} s)
  its control API             {gateway_url}/sim/state   (log out: POST {gateway_url}/sim/logout)
  its Flex Web Service        {flex_url}  (demo token {DEMO_TOKEN}, query {DEMO_QUERY_ID})
  add Flex history            IBKR_CONNECTOR_HOME={connector_home} IBKR_CONNECTOR_KEY_STORE=file IBKR_CONNECTOR_FLEX_URL={flex_url} REQUESTS_CA_BUNDLE={simulator_ca} ibkr-connector flex set --query-id {DEMO_QUERY_ID}  (paste the demo token)
Headless connector          {state} (a snapshot every 30 s; each takes ~20 s: IBKR pacing)
  its status                  IBKR_CONNECTOR_HOME={connector_home} ibkr-connector status
  its log                     {connector_log} and {connector_home / 'logs' / 'connector.log'}
"""  # noqa: E501
