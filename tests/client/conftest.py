"""Fixtures for connector tests: an in-process gateway simulator over HTTPS, isolated folders.

`simulator` — a `SimulatorServer` (HTTPS, self-signed, free port, demo scenario, short idle
timeout and penalty box, pacing ON) with `.control` (a `SimulatorControl`), not logged in.
`server` — a live Veracity server (gunicorn, SQLite) for the test module; a module sets
`SERVER_ENV` for settings of its own.
`connector_env` — environment for a connector subprocess whose folders and key file live in
`tmp_path` (key store = the opt-in file store, so no keyring is touched).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ibkr_gateway_sim.control import SimulatorControl
from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.server import SimulatorServer
from tests.support.server_fixtures import LiveServer, start_live_server
from veracity_connector.gateway import GatewayClient, Pacer
from veracity_connector.settings import Folders


@dataclass
class RunningSimulator:
    server: SimulatorServer
    control: SimulatorControl

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    options = SimulatorOptions(idle_timeout_s=30, penalty_box_s=2)
    server = SimulatorServer(options).start()
    control = SimulatorControl(server.base_url)
    try:
        yield RunningSimulator(server, control)
    finally:
        control.close()
        server.stop()


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    module = request.module.__name__.rsplit(".", 1)[-1]
    with start_live_server(tmp_path_factory.mktemp(f"{module}-server"),
                           env=getattr(request.module, "SERVER_ENV", None)) as live:
        yield live


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    return Folders.from_environment({"IBKR_CONNECTOR_HOME": str(tmp_path / "connector")})


@pytest.fixture
def gateway(simulator: RunningSimulator, folders: Folders) -> Iterator[GatewayClient]:
    client = GatewayClient.for_url(
        simulator.base_url, pacer=Pacer(state_path=folders.data_dir / "pacing.json",
                                        backoff_initial_s=1))
    try:
        yield client
    finally:
        client.close()
