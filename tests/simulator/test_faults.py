"""Fault injection through /sim/faults: latency, 5xx, connection reset, slow body."""

from __future__ import annotations

import pytest
import requests

from ibkr_gateway_sim.control import SimulatorControlError


def _without_timestamps(ledger):
    return {key: {k: v for k, v in entry.items() if k != "timestamp"}
            for key, entry in ledger.items()}


@pytest.fixture
def sim(gateway_sim_factory):
    sim = gateway_sim_factory(pacing_enabled=False, idle_timeout_s=60)
    sim.control.login()
    return sim


def test_status_fault_answers_5xx_for_n_requests_then_recovers(sim):
    sim.control.add_fault("status", endpoint="/portfolio/accounts", count=2, status=503)
    first, second = sim.get("/portfolio/accounts"), sim.get("/portfolio/accounts")
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json() == {"error": "Service Unavailable", "statusCode": 503}
    assert sim.get("/portfolio/accounts").status_code == 200
    counter = sim.control.endpoint("/portfolio/accounts")
    assert (counter["count"], counter["faulted"], counter["accepted"]) == (3, 2, 1)
    assert sim.control.faults() == []  # used up


def test_fault_on_one_endpoint_leaves_others_alone(sim):
    sim.control.add_fault("status", endpoint="/portfolio/{accountId}/summary", status=500)
    assert sim.get("/portfolio/U1234567/summary").status_code == 500
    assert sim.get("/portfolio/U2345678/summary").status_code == 500  # template matches all
    assert sim.get("/portfolio/U1234567/ledger").status_code == 200
    sim.control.clear_faults()
    assert sim.get("/portfolio/U1234567/summary").status_code == 200


def test_fault_can_target_one_concrete_path(sim):
    sim.control.add_fault("status", endpoint="/portfolio/U1234567/positions/1", status=502)
    sim.get("/portfolio/accounts")
    assert sim.get("/portfolio/U1234567/positions/0").status_code == 200
    assert sim.get("/portfolio/U1234567/positions/1").status_code == 502


def test_fault_without_endpoint_hits_every_gateway_endpoint_but_not_control(sim):
    fault = sim.control.add_fault("status", status=500)
    assert sim.post("/tickle").status_code == 500
    assert sim.post("/iserver/auth/status").status_code == 500
    assert sim.control.state()["accounts"]  # the control API is not faulted
    sim.control._call("DELETE", f"/faults/{fault['id']}")
    assert sim.post("/tickle").status_code == 200


def test_latency_fault_makes_a_short_timeout_expire(sim):
    sim.control.add_fault("latency", endpoint="/portfolio/accounts", count=1, delay_s=1.5)
    with pytest.raises(requests.ReadTimeout):
        sim.http.get(f"{sim.api_url}/portfolio/accounts", verify=sim.verify, timeout=0.3)
    # The next request is served at once (the fault was for one request).
    response = sim.http.get(f"{sim.api_url}/portfolio/accounts", verify=sim.verify, timeout=5)
    assert response.status_code == 200


def test_latency_fault_still_answers_in_full(sim):
    sim.control.add_fault("latency", endpoint="/tickle", count=1, delay_s=0.2)
    response = sim.post("/tickle")
    assert response.status_code == 200 and response.json()["iserver"]["authStatus"]
    assert sim.control.endpoint("/tickle")["faulted"] == 1


def test_reset_fault_drops_the_connection_without_an_answer(sim):
    sim.control.add_fault("reset", endpoint="/portfolio/accounts", count=1)
    with pytest.raises(requests.ConnectionError):
        sim.get("/portfolio/accounts")
    assert sim.get("/portfolio/accounts").status_code == 200  # a new connection works
    assert sim.control.endpoint("/portfolio/accounts")["faulted"] == 1


def test_reset_fault_on_a_fresh_connection(sim):
    sim.control.add_fault("reset", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sim.api_url}/tickle", verify=sim.verify, timeout=5)


def test_slow_body_sends_headers_then_trickles_the_body(sim):
    sim.control.add_fault("slow_body", endpoint="/portfolio/{accountId}/summary", count=2,
                          delay_s=1.0, chunk_size=64)
    with pytest.raises((requests.ConnectionError, requests.Timeout)):
        # Headers arrive, then the read timeout expires between two chunks of the body.
        response = sim.http.get(f"{sim.api_url}/portfolio/U1234567/summary",
                                verify=sim.verify, timeout=0.3, stream=True)
        assert response.status_code == 200
        response.content  # noqa: B018 (reading the body is the point)


def test_slow_body_arrives_complete_for_a_patient_client(sim):
    expected = sim.get("/portfolio/U1234567/ledger").json()
    sim.control.add_fault("slow_body", endpoint="/portfolio/{accountId}/ledger", count=1,
                          delay_s=0.01, chunk_size=256)
    response = sim.get("/portfolio/U1234567/ledger")
    assert response.headers["Content-Length"] == str(len(response.content))
    assert _without_timestamps(response.json()) == _without_timestamps(expected)


@pytest.mark.parametrize("body", [
    {"kind": "explode"},
    {"kind": "status", "status": 404},
    {"kind": "latency", "delay_s": -1},
    {"kind": "reset", "count": 0},
    {"kind": "status", "endpoint": "no-slash"},
])
def test_bad_fault_is_refused_and_nothing_is_added(sim, body):
    with pytest.raises(SimulatorControlError) as refused:
        sim.control._call("POST", "/faults", body)
    assert refused.value.status == 400
    assert sim.control.faults() == []
