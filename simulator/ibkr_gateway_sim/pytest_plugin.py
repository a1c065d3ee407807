"""pytest fixtures that run the IBKR gateway simulator (loaded by tests/conftest.py).

Fixtures:
- `gateway_sim` — a running simulator for one test: HTTPS on a free loopback port, the demo
  book, NOT logged in, idle timeout 2 s, penalty box 1 s, pacing on. A `GatewaySim` handle:
  `.base_url` (https://127.0.0.1:PORT), `.api_url` (base_url + /v1/api, what gateway clients
  take), `.port`, `.control` (a `SimulatorControl`: login(), state(), requests(), add_fault()...),
  `.server` (the `SimulatorServer`, for in-process access to `.server.state`),
  `.certificate_pem`, `.verify` (path of that certificate, for `requests`' `verify=`),
  `.get(path)` / `.post(path)` (one gateway call on a keep-alive session, TLS verified).
- `gateway_sim_factory` — `gateway_sim_factory(**options)` starts more or custom simulators;
  keywords are `SimulatorOptions` fields (idle_timeout_s, penalty_box_s, pacing_enabled,
  preflight_empty_orders, tickle_no_session_200, positions_cache_s, price_tick_interval_s,
  seed, scenario, logged_in_at_start) plus `use_tls=True`, `manual_clock=False` (then
  `.clock.advance(s)` or `control.advance_clock(s)` moves time), `port=0`, `ips=GatewayConf`.
  Test defaults (short timeouts) apply unless overridden. All are stopped after the test.
- `fake_gateway_folder` — a `FakeGateway` in tmp_path laid out like IBKR's download, whose
  `bin/run.sh root/conf.yaml` (run from `.root`) starts the simulator on `.port` (a free port).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from ibkr_gateway_sim.control import SimulatorControl
    from ibkr_gateway_sim.gateway_folder import FakeGateway
    from ibkr_gateway_sim.server import SimulatorServer
    from ibkr_gateway_sim.session import ManualClock

TEST_DEFAULTS: dict[str, Any] = {"idle_timeout_s": 2.0, "penalty_box_s": 1.0}


@dataclass
class GatewaySim:
    """A simulator started for a test, with its control client."""

    server: SimulatorServer
    control: SimulatorControl
    clock: ManualClock | None = None
    certificate_path: Path | None = None  # the PEM in a file, for `verify=` (None over HTTP)
    http: requests.Session = field(default_factory=requests.Session)  # keep-alive, like clients

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:<port>`."""
        return self.server.base_url

    @property
    def api_url(self) -> str:
        """`https://127.0.0.1:<port>/v1/api` (what gateway clients are configured with)."""
        return self.server.api_url

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.server.port

    @property
    def certificate_pem(self) -> str | None:
        """Its self-signed certificate (None over plain HTTP)."""
        return self.server.certificate_pem

    @property
    def verify(self) -> str | bool:
        """What `requests` needs to verify this simulator's certificate."""
        return str(self.certificate_path) if self.certificate_path else True

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """One GET to the gateway API (`path` after /v1/api), verifying the certificate."""
        return self.http.get(f"{self.api_url}{path}", verify=self.verify, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """One POST to the gateway API (`path` after /v1/api)."""
        return self.http.post(f"{self.api_url}{path}", verify=self.verify, timeout=10, **kwargs)

    def stop(self) -> None:
        """Stop the simulator (also done at teardown)."""
        self.control.close()
        self.http.close()
        self.server.stop()
        if self.certificate_path is not None:
            self.certificate_path.unlink(missing_ok=True)


def start_gateway_sim(*, use_tls: bool = True, manual_clock: bool = False, port: int = 0,
                      ips: Any = None, **options: Any) -> GatewaySim:
    """Start a simulator with test defaults (short idle timeout and penalty box)."""
    from ibkr_gateway_sim.control import SimulatorControl
    from ibkr_gateway_sim.options import SimulatorOptions
    from ibkr_gateway_sim.server import SimulatorServer
    from ibkr_gateway_sim.session import ManualClock

    clock = ManualClock() if manual_clock else None
    server = SimulatorServer(SimulatorOptions(**{**TEST_DEFAULTS, **options}), port=port,
                             use_tls=use_tls, clock=clock, ips=ips)
    server.start()
    certificate_path = None
    if server.certificate_pem:
        handle, name = tempfile.mkstemp(prefix="gateway-sim-", suffix=".pem")
        with os.fdopen(handle, "w") as certificate_file:
            certificate_file.write(server.certificate_pem)
        certificate_path = Path(name)
    control = SimulatorControl(server.base_url,
                               verify=str(certificate_path) if certificate_path else True)
    return GatewaySim(server=server, control=control, clock=clock,
                      certificate_path=certificate_path)


@pytest.fixture
def gateway_sim_factory() -> Iterator[Callable[..., GatewaySim]]:
    """Start simulators with custom options; all are stopped after the test."""
    started: list[GatewaySim] = []

    def factory(**options: Any) -> GatewaySim:
        sim = start_gateway_sim(**options)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def gateway_sim(gateway_sim_factory: Callable[..., GatewaySim]) -> GatewaySim:
    """A running HTTPS simulator, demo book, not logged in, short timeouts."""
    return gateway_sim_factory()


@pytest.fixture
def fake_gateway_folder(tmp_path: Path) -> FakeGateway:
    """A fake gateway folder whose bin/run.sh starts the simulator on a free port."""
    from ibkr_gateway_sim.gateway_folder import make_fake_gateway

    return make_fake_gateway(tmp_path / "clientportal.gw", port=_free_port())


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
