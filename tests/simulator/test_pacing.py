"""IBKR's pacing over real HTTPS: 10/s global, per-endpoint limits, 429 and the penalty box.

Most tests run the simulator on a manual clock, so "too fast" is decided by the clock and not
by how fast this machine sends requests; one test shows the same on the real clock.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.waiting import wait_until

TOO_MANY = {"error": "Too Many Requests", "statusCode": 429}

PER_ENDPOINT_LIMITS = [  # path, method, minimum seconds between requests
    ("/portfolio/accounts", "get", 5.0),
    ("/portfolio/subaccounts", "get", 5.0),
    ("/iserver/account/orders", "get", 5.0),
    ("/iserver/account/trades", "get", 5.0),
    ("/tickle", "post", 1.0),
    ("/sso/validate", "get", 60.0),
]


@pytest.fixture
def paced_sim(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True, idle_timeout_s=3600, penalty_box_s=600)
    sim.control.login()
    return sim


def _call(sim, method, path):
    return getattr(sim, method)(path)


def test_eleventh_request_in_a_second_gets_429_and_the_penalty_box(paced_sim):
    for _ in range(10):
        assert paced_sim.get("/portfolio/U1234567/summary").status_code == 200
    refused = paced_sim.get("/portfolio/U1234567/summary")
    assert (refused.status_code, refused.json()) == (429, TOO_MANY)
    # In the penalty box every request is refused, whatever the endpoint, even a second later.
    paced_sim.clock.advance(1.0)
    assert paced_sim.get("/portfolio/U2345678/ledger").status_code == 429
    assert paced_sim.post("/iserver/auth/status").status_code == 429
    paced_sim.clock.advance(598.0)
    assert paced_sim.get("/portfolio/U1234567/summary").status_code == 429
    paced_sim.clock.advance(1.5)
    assert paced_sim.get("/portfolio/U1234567/summary").status_code == 200
    counters = paced_sim.control.requests()
    summary = counters["endpoints"]["/portfolio/{accountId}/summary"]
    assert (summary["count"], summary["refused_429"], summary["accepted"]) == (13, 2, 11)
    assert counters["penalty_boxes"] == 1 and counters["in_penalty_box"] is False
    assert counters["peak_per_second"] == 10
    assert "/portfolio/{accountId}/summary: 2 refused with 429" in counters["violations"]


def test_ten_requests_spread_over_a_second_are_fine(paced_sim):
    for _ in range(30):
        assert paced_sim.get("/portfolio/U1234567/summary").status_code == 200
        paced_sim.clock.advance(0.1)
    assert paced_sim.control.requests()["refused_429"] == 0


@pytest.mark.parametrize(("path", "method", "interval"), PER_ENDPOINT_LIMITS)
def test_per_endpoint_limit(paced_sim, path, method, interval):
    paced_sim.control.configure(penalize_endpoint_limits=False)
    paced_sim.get("/iserver/accounts")  # orders need it first
    assert _call(paced_sim, method, path).status_code == 200
    paced_sim.clock.advance(interval * 0.9)
    assert _call(paced_sim, method, path).status_code == 429
    # Other endpoints are not affected when the penalty box is off for endpoint limits.
    assert paced_sim.get("/portfolio/U1234567/summary").status_code == 200
    paced_sim.clock.advance(interval * 0.1 + 0.001)
    assert _call(paced_sim, method, path).status_code == 200
    counter = paced_sim.control.endpoint(path)
    assert (counter["count"], counter["refused_429"]) == (3, 1)
    assert counter["min_interval_s"] == pytest.approx(interval, abs=0.01)
    assert counter["limit_min_interval_s"] == interval


def test_per_endpoint_violation_starts_the_penalty_box_by_default(paced_sim):
    assert paced_sim.get("/portfolio/accounts").status_code == 200
    paced_sim.clock.advance(1.0)
    assert paced_sim.get("/portfolio/accounts").status_code == 429
    assert paced_sim.get("/portfolio/U1234567/summary").status_code == 429
    assert paced_sim.control.requests()["in_penalty_box"] is True


def test_min_interval_shows_whether_a_client_stayed_within_limits(paced_sim):
    for _ in range(4):
        assert paced_sim.get("/portfolio/accounts").status_code == 200
        paced_sim.clock.advance(6.5)
    counter = paced_sim.control.endpoint("/portfolio/accounts")
    assert counter["min_interval_s"] == pytest.approx(6.5)
    assert counter["min_interval_s"] >= counter["limit_min_interval_s"]
    assert paced_sim.control.pacing_violations() == []


def test_pacing_can_be_turned_off_for_clients_that_cannot_pace(paced_sim):
    paced_sim.control.set_pacing(enabled=False)
    for _ in range(15):
        assert paced_sim.post("/tickle").status_code == 200
    counter = paced_sim.control.endpoint("/tickle")
    assert (counter["count"], counter["refused_429"]) == (15, 0)
    assert counter["min_interval_s"] == 0  # counted all the same: a test can see the breach
    assert paced_sim.control.pacing_violations() == [
        "15 requests within one second (limit 10)",
        "/tickle: two requests 0 s apart (limit 1 per 1 s)",
    ]


def test_penalty_box_can_be_cleared_by_control(paced_sim):
    paced_sim.get("/portfolio/accounts")
    assert paced_sim.get("/portfolio/accounts").status_code == 429
    paced_sim.control.set_pacing(clear_penalty=True)
    assert paced_sim.get("/portfolio/U1234567/summary").status_code == 200


def test_reset_clears_counters_and_penalty(paced_sim):
    paced_sim.get("/portfolio/accounts")
    paced_sim.get("/portfolio/accounts")
    paced_sim.control.reset()
    counters = paced_sim.control.requests()
    assert counters["endpoints"] == {} and counters["in_penalty_box"] is False


def test_pacing_applies_before_the_session_check(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True)
    assert sim.post("/tickle").status_code == 401
    assert sim.post("/tickle").status_code == 429


def test_burst_on_the_real_clock_gets_429_then_penalty_box_ends(gateway_sim_factory):
    sim = gateway_sim_factory(penalty_box_s=0.5, idle_timeout_s=60)
    sim.control.login()

    def burst(_):
        with requests.Session() as http:
            return [http.get(f"{sim.api_url}/portfolio/U1234567/summary", verify=sim.verify,
                             timeout=10).status_code for _ in range(15)]

    # Four clients at once, so even a slow, busy machine sends more than 10 within a second.
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [status for batch in pool.map(burst, range(4)) for status in batch]
    assert 429 in statuses
    counter = sim.control.endpoint("/portfolio/{accountId}/summary")
    assert counter["accepted"] >= 10 and counter["refused_429"] >= 1
    # Wait out the (short) penalty box, which the simulator reports, and the one-second window
    # of the global limit (the burst may have gone on after an earlier penalty box ended).
    wait_until(lambda: sim.control.requests()["penalty_box_remaining_s"] <= 0, 10,
               "the penalty box to end")
    time.sleep(1.05)
    assert sim.get("/portfolio/U1234567/summary").status_code == 200
