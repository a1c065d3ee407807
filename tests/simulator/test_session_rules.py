"""The gateway's session rules, over real HTTPS: login, idle timeout, competing, no bridge."""

from __future__ import annotations

import time

import pytest

NOT_AUTHENTICATED = {"error": "not authenticated", "statusCode": 401}
NO_BRIDGE = {"error": "Bad Request: no bridge", "statusCode": 400}


def test_nothing_works_before_login(gateway_sim):
    for path in ("/portfolio/accounts", "/portfolio/U1234567/summary", "/sso/validate",
                 "/iserver/accounts", "/iserver/account/orders"):
        response = gateway_sim.get(path)
        assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED), path
    assert gateway_sim.post("/tickle").status_code == 401


def test_auth_status_without_session_reports_everything_false(gateway_sim):
    status = gateway_sim.post("/iserver/auth/status")
    assert status.status_code == 200
    body = status.json()
    assert (body["authenticated"], body["competing"], body["connected"]) == (False, False, False)
    assert set(body) >= {"message", "MAC", "serverInfo", "fail", "hardware_info"}


def test_tickle_can_answer_no_session_with_200(gateway_sim_factory):
    sim = gateway_sim_factory(tickle_no_session_200=True)
    response = sim.post("/tickle")
    assert (response.status_code, response.json()) == (200, {"error": "no session"})


def test_login_opens_both_sessions(gateway_sim):
    gateway_sim.control.login()
    tickle = gateway_sim.post("/tickle").json()
    assert tickle["iserver"]["authStatus"]["authenticated"] is True
    assert tickle["hmds"] == {"error": "no bridge"}
    assert tickle["collission"] is False and tickle["session"]
    assert 0 < tickle["ssoExpires"] <= 2000
    assert gateway_sim.get("/portfolio/accounts").status_code == 200
    assert gateway_sim.get("/iserver/accounts").status_code == 200
    validate = gateway_sim.get("/sso/validate").json()
    assert validate["RESULT"] is True and validate["USER_NAME"]


def test_gateway_logout_ends_the_session(gateway_sim):
    gateway_sim.control.login()
    assert gateway_sim.post("/logout").json() == {"status": True}
    assert gateway_sim.get("/portfolio/accounts").status_code == 401
    assert gateway_sim.post("/iserver/auth/status").json()["authenticated"] is False


def test_session_lapses_after_idle_timeout(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True, idle_timeout_s=360)
    sim.control.login()
    sim.clock.advance(359)
    assert sim.get("/portfolio/accounts").status_code == 200  # a request keeps it alive
    sim.clock.advance(359)
    assert sim.post("/tickle").status_code == 200
    sim.clock.advance(361)
    response = sim.post("/tickle")
    assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED)
    assert sim.control.session()["lapsed_reason"] == "idle timeout"


def test_session_lapses_on_the_real_clock(gateway_sim_factory):
    sim = gateway_sim_factory(idle_timeout_s=1.0)
    sim.control.login()
    assert sim.get("/portfolio/U1234567/summary").status_code == 200
    time.sleep(1.3)  # longer than the idle timeout: the behaviour under test, not a wait
    assert sim.get("/portfolio/U1234567/summary").status_code == 401


def test_control_can_expire_the_session(gateway_sim):
    gateway_sim.control.login()
    gateway_sim.control.expire_session()
    assert gateway_sim.get("/portfolio/accounts").status_code == 401


def test_iserver_without_brokerage_session_says_no_bridge(gateway_sim):
    gateway_sim.control.login(brokerage=False)
    assert gateway_sim.get("/portfolio/accounts").status_code == 200  # read-only tier works
    for path in ("/iserver/accounts", "/iserver/account/orders"):
        response = gateway_sim.get(path)
        assert (response.status_code, response.json()) == (400, NO_BRIDGE), path
    opened = gateway_sim.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": True})
    assert opened.json()["authenticated"] is True
    assert gateway_sim.get("/iserver/accounts").status_code == 200


def test_competing_session_takes_the_brokerage_session(gateway_sim):
    gateway_sim.control.login()
    gateway_sim.control.make_competing()
    status = gateway_sim.post("/iserver/auth/status").json()
    assert (status["authenticated"], status["competing"], status["connected"]) == (
        False, True, True)
    assert gateway_sim.get("/iserver/accounts").json() == NO_BRIDGE
    assert gateway_sim.get("/portfolio/accounts").status_code == 200
    refused = gateway_sim.post("/iserver/auth/ssodh/init",
                               json={"publish": True, "compete": False}).json()
    assert refused["competing"] is True
    taken_back = gateway_sim.post("/iserver/auth/ssodh/init",
                                  json={"publish": True, "compete": True}).json()
    assert (taken_back["authenticated"], taken_back["competing"]) == (True, False)


def test_disconnected_gateway_cannot_open_a_brokerage_session(gateway_sim):
    gateway_sim.control.login()
    gateway_sim.control.set_connected(False)
    status = gateway_sim.post("/iserver/auth/ssodh/init", json={"compete": True}).json()
    assert (status["authenticated"], status["connected"]) == (False, False)
    assert gateway_sim.get("/iserver/accounts").json() == NO_BRIDGE


@pytest.mark.parametrize("path", ["/iserver/auth/ssodh/init", "/sso/validate"])
def test_session_endpoints_need_the_sso_login(gateway_sim, path):
    response = (gateway_sim.post(path, json={"compete": True}) if "ssodh" in path
                else gateway_sim.get(path))
    assert response.status_code == 401


def test_deprecated_reauthenticate_still_reopens_the_brokerage_session(gateway_sim):
    gateway_sim.control.login(brokerage=False)
    assert gateway_sim.post("/iserver/reauthenticate").json() == {"message": "triggered"}
    assert gateway_sim.post("/iserver/auth/status").json()["authenticated"] is True
