"""End-to-end fixtures: real processes on loopback.

- `gateway_process` — `python -m ibkr_gateway_sim` (the `ibkr-gateway-sim` CLI) over HTTPS on a free
  port, demo scenario, logged in, short penalty box; `.control` drives it, `.stop()`/`.start()`
  take it down and bring it back on the same port.
- `veracity` — the server under gunicorn (`start_live_server`) with compressed intervals
  (heartbeat 2 s, snapshot 10 s) and a user `E2E_EMAIL`.
- `connector` — a `ConnectorCLI`: runs `python -m veracity_connector ...` in subprocesses with
  its own folders in tmp_path, the file key store, and the two URLs; `.start_run()` starts the
  headless loop (stopped with SIGTERM at the end).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ibkr_gateway_sim.control import SimulatorControl
from tests.support.processes import free_port, running_process, stop_process, wait_for_http
from tests.support.server_fixtures import LiveServer, start_live_server

E2E_EMAIL = "e2e@example.com"
SERVER_ENV = {"VERACITY_HEARTBEAT_INTERVAL_S": "2", "VERACITY_SNAPSHOT_INTERVAL_S": "10"}


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str,
               interval_s: float = 0.5) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


class GatewayProcess:
    """The simulator as its own process; can be stopped and restarted on the same port."""

    def __init__(self, tmp_path: Path, extra_args: list[str]) -> None:
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "simulator.log"
        self.command = [sys.executable, "-m", "ibkr_gateway_sim", "--port", str(self.port),
                        "--logged-in", *extra_args]
        self.process: subprocess.Popen | None = None
        self.control = SimulatorControl(self.base_url)

    def start(self) -> None:
        """Start it and wait until it answers."""
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the process's life)
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        wait_for_http(f"{self.base_url}/sim/state", 30, self.process, verify=False)

    def stop(self) -> None:
        """Stop it (SIGTERM to its process group)."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path, ["--penalty-box", "5"])
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.control.close()
        gateway.stop()


@pytest.fixture
def veracity(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path / "server", env=SERVER_ENV) as server:
        server.create_user(E2E_EMAIL)
        yield server


class ConnectorCLI:
    """Runs the connector's CLI as subprocesses with an isolated home."""

    def __init__(self, home: Path, veracity_url: str, gateway_url: str) -> None:
        self.home = home
        self.env = {**os.environ, "IBKR_CONNECTOR_HOME": str(home),
                    "VERACITY_URL": veracity_url, "IBKR_GATEWAY_URL": gateway_url,
                    "IBKR_CONNECTOR_KEY_STORE": "file",
                    # compressed: notice gateway changes within seconds; short 429 back-off
                    "IBKR_CONNECTOR_TICKLE_INTERVAL_S": "2",
                    "IBKR_CONNECTOR_RATE_LIMIT_BACKOFF_S": "3"}
        self.env.pop("VERACITY_CONNECTOR_KEY", None)
        self.run_log = home / "run-output.log"

    @property
    def key_file(self) -> Path:
        return self.home / "data" / "connector-key"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "connector.log"

    def __call__(self, *args: str, stdin: str | None = None,
                 timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
        """Run one command to completion."""
        return subprocess.run([sys.executable, "-m", "veracity_connector", *args], env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=timeout_s)

    def status(self) -> dict[str, Any]:
        """`status --json`, parsed."""
        result = self("status", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    @contextlib.contextmanager
    def start_run(self, **extra_env: str) -> Iterator[subprocess.Popen]:
        """`ibkr-connector run` for the `with` block; stopped with SIGTERM afterwards."""
        with running_process([sys.executable, "-m", "veracity_connector", "run"],
                             env={**self.env, **extra_env}, log_path=self.run_log) as process:
            yield process
            assert process.poll() is None, self.output()
        assert process.returncode == 0, f"run exited with {process.returncode}\n{self.output()}"

    def output(self) -> str:
        """The headless run's output (for failure messages)."""
        return self.run_log.read_text(errors="replace")[-6000:] if self.run_log.exists() else ""


@pytest.fixture
def connector(tmp_path: Path, veracity: LiveServer,
              gateway_process: GatewayProcess) -> ConnectorCLI:
    return ConnectorCLI(tmp_path / "connector", veracity.base_url, gateway_process.base_url)
