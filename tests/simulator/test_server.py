"""SimulatorServer itself: free ports, concurrent clients, a stop that really stops."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.server import PortInUseError, SimulatorServer


def test_concurrent_clients_are_served_in_parallel(gateway_sim_factory):
    sim = gateway_sim_factory(pacing_enabled=False, idle_timeout_s=60)
    sim.control.login()
    # One slow request must not hold up the others: the server is threaded.
    sim.control.add_fault("latency", endpoint="/portfolio/{accountId}/ledger", count=1,
                          delay_s=60)

    def fetch(path):
        with requests.Session() as http:
            return http.get(f"{sim.api_url}{path}", verify=sim.verify, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=9) as pool:
        slow = pool.submit(fetch, "/portfolio/U1234567/ledger")
        fast = [pool.submit(fetch, "/portfolio/U1234567/summary") for _ in range(24)]
        assert [future.result() for future in fast] == [200] * 24
        assert not slow.done()  # the 24 others finished while this one was still delayed
        sim.control.clear_faults()  # releases the delayed request
        assert slow.result() == 200


def test_stop_closes_keep_alive_connections(gateway_sim):
    with requests.Session() as http:
        url = f"{gateway_sim.api_url}/iserver/auth/status"
        assert http.post(url, verify=gateway_sim.verify, timeout=5).status_code == 200
        gateway_sim.server.stop()
        with pytest.raises(requests.ConnectionError):
            http.post(url, verify=gateway_sim.verify, timeout=5)


def test_a_second_server_on_a_taken_port_is_refused(gateway_sim):
    second = SimulatorServer(SimulatorOptions(), port=gateway_sim.port)
    with pytest.raises(PortInUseError) as refused:
        second.start()
    assert f"port {gateway_sim.port}" in str(refused.value.strerror)


def test_plain_http_server(gateway_sim_factory):
    sim = gateway_sim_factory(use_tls=False)
    assert sim.base_url.startswith("http://") and sim.certificate_pem is None
    assert sim.post("/iserver/auth/status").status_code == 200


def test_context_manager_starts_and_stops():
    with SimulatorServer(SimulatorOptions(), use_tls=False) as server:
        url = f"{server.api_url}/iserver/auth/status"
        assert requests.post(url, timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.post(url, timeout=5)


def test_restart_serves_the_same_port_and_state(gateway_sim):
    gateway_sim.control.login()
    port = gateway_sim.port
    gateway_sim.server.stop()
    with pytest.raises(requests.ConnectionError):
        gateway_sim.post("/iserver/auth/status")
    gateway_sim.server.restart()
    assert gateway_sim.port == port
    assert gateway_sim.post("/iserver/auth/status").json()["authenticated"] is True
