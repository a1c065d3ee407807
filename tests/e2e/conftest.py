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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ibkr_gateway_sim.control import SimulatorControl
from tests.support.processes import ManagedProcess, free_port, running_process
from tests.support.server_fixtures import LiveServer, start_live_server

E2E_EMAIL = "e2e@example.com"
SERVER_ENV = {"VERACITY_HEARTBEAT_INTERVAL_S": "2", "VERACITY_SNAPSHOT_INTERVAL_S": "10"}


class GatewayProcess:
    """The simulator as its own process; can be stopped and restarted on the same port."""

    def __init__(self, tmp_path: Path, extra_args: list[str]) -> None:
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.simulator = ManagedProcess(
            [sys.executable, "-m", "ibkr_gateway_sim", "--port", str(self.port), "--logged-in",
             *extra_args],
            log_path=tmp_path / "simulator.log", ready_url=f"{self.base_url}/sim/state",
            verify=False, name="ibkr_gateway_sim")
        self.control = SimulatorControl(self.base_url)

    def start(self) -> None:
        """Start it and wait until it answers."""
        self.simulator.start()

    def stop(self) -> None:
        """Stop it (SIGTERM to its process group)."""
        self.simulator.stop()


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
