"""Session scenarios (session_events.py): each event gives the answers ibkr-session.md records,
applied at once through /sim/session/event or on a timeline against a manual clock."""

from __future__ import annotations

import pytest
import requests

from ibkr_gateway_sim.control import SimulatorControlError


@pytest.fixture
def sim(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True, idle_timeout_s=360, pacing_enabled=False)
    sim.control.login()
    return sim


def auth(sim) -> dict:
    return sim.post("/tickle").json()["iserver"]["authStatus"]


def flags(sim) -> tuple[bool, bool, bool]:
    status = auth(sim)
    return status["connected"], status["authenticated"], status["competing"]


def ssodh_init(sim, compete: bool = False) -> dict:
    return sim.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": compete}).json()


def test_brokerage_lost_keeps_the_read_only_session_and_ssodh_init_reopens_it(sim):
    sim.control.session_event("brokerage_lost")
    assert flags(sim) == (True, False, False)
    assert sim.get("/portfolio/accounts").status_code == 200  # read-only still works
    assert sim.get("/iserver/accounts").status_code == 400  # no bridge
    assert ssodh_init(sim)["authenticated"] is True
    assert flags(sim) == (True, True, False)


def test_ssodh_init_fails_as_often_as_told_then_succeeds(sim):
    sim.control.session_event("brokerage_lost")
    sim.control.session_event("ssodh_init_fail", count=2)
    for _ in range(2):
        answer = ssodh_init(sim)
        assert answer["authenticated"] is False and answer["fail"]
    assert ssodh_init(sim)["established"] is True


def test_nightly_reset_has_a_short_iserver_outage_then_needs_ssodh_init(sim):
    sim.control.schedule([{"at_s": 600, "event": "nightly_reset", "outage_s": 120}])
    sim.control.advance_clock(300)
    assert flags(sim) == (True, True, False)
    sim.control.advance_clock(330)  # 30 s into the outage
    assert flags(sim) == (False, False, False)
    assert sim.post("/iserver/auth/status").status_code == 503
    assert sim.post("/iserver/auth/ssodh/init", json={"compete": False}).status_code == 503
    assert sim.get("/portfolio/accounts").status_code == 200  # the SSO session lives
    sim.control.advance_clock(100)
    assert flags(sim) == (True, False, False)
    assert ssodh_init(sim)["authenticated"] is True
    assert [event["event"] for event in sim.control.timeline()["applied"]] == ["nightly_reset"]


def test_nightly_reset_may_end_the_sso_session_too(sim):
    sim.control.session_event("nightly_reset", outage_s=60, sso_lost=True)
    sim.control.advance_clock(61)
    assert sim.post("/tickle").status_code == 401


def test_competing_login_elsewhere_is_not_taken_back_without_compete_and_ends(sim):
    sim.control.session_event("competing_start", platform="TWS")
    assert flags(sim) == (True, False, True)
    assert sim.control.session()["competing_platform"] == "TWS"
    assert ssodh_init(sim, compete=False)["competing"] is True  # stepping aside changes nothing
    sim.control.session_event("competing_end")
    assert flags(sim) == (True, False, False)
    assert ssodh_init(sim, compete=False)["authenticated"] is True


def test_idle_timeout_drops_only_the_brokerage_session_when_the_sso_session_is_pinged(sim):
    sim.control.configure(sso_sleep_timeout_s=3600)
    sim.control.advance_clock(400)
    assert flags(sim) == (True, False, False)
    assert sim.control.session()["lapsed_reason"].startswith("idle timeout")


def test_idle_timeout_ends_everything_by_default(sim):
    sim.control.advance_clock(400)
    assert sim.post("/tickle").status_code == 401


def test_a_short_sleep_keeps_the_sso_session_a_long_one_ends_it(sim):
    sim.control.configure(sso_sleep_timeout_s=3600)
    sim.control.session_event("sleep", seconds=1200)  # moves the manual clock
    assert flags(sim) == (True, False, False)
    sim.control.session_event("sleep", seconds=4000)
    assert sim.post("/tickle").status_code == 401
    assert sim.control.session()["lapsed_reason"] == "expired during sleep"


def test_gateway_restart_drops_connections_then_has_no_session(sim):
    sim.control.session_event("gateway_restart", down_s=30)
    with pytest.raises(requests.ConnectionError):
        sim.post("/tickle")
    sim.control.advance_clock(31)
    assert sim.post("/tickle").status_code == 401


def test_the_session_ends_after_its_maximum_life(sim):
    sim.control.configure(session_max_life_s=24 * 3600)
    for _ in range(24 * 12 - 1):  # tickled every 5 minutes, it still ends after a day
        sim.control.advance_clock(300)
        sim.post("/tickle")
    assert auth(sim)["authenticated"] is True
    sim.control.advance_clock(301)
    assert sim.post("/tickle").status_code == 401


def test_timeline_events_apply_in_order_at_their_moment(sim):
    sim.control.schedule([{"at_s": 120, "event": "competing_end"},
                          {"at_s": 60, "event": "competing_start"}])
    sim.control.advance_clock(90)
    assert flags(sim) == (True, False, True)
    sim.control.advance_clock(60)
    assert flags(sim) == (True, False, False)
    assert sim.control.timeline()["pending"] == []


@pytest.mark.parametrize("body", [{"event": "nap"}, {"event": "sleep"},
                                  {"event": "competing_start", "platform": 3},
                                  {"event": "brokerage_lost", "outage_s": 3}])
def test_bad_events_are_refused_and_change_nothing(sim, body):
    with pytest.raises(SimulatorControlError) as refused:
        sim.control.session_event(**body)
    assert refused.value.status == 400
    assert flags(sim) == (True, True, False)
    with pytest.raises(SimulatorControlError):
        sim.control.schedule([{"at_s": 5, "event": "logout"}, {"at_s": -1, "event": "logout"}])
    assert sim.control.timeline()["pending"] == []
