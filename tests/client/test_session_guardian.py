"""The session guardian against the simulator on a shared manual clock: each session scenario
of ibkr-session.md → what the guardian does (counted with the simulator's request counters)."""

from __future__ import annotations

import pytest

from tests.support.guardian_drive import MONDAY_MIDNIGHT_NEW_YORK, guardian_rig
from veracity_connector.engine import Engine
from veracity_connector.engine.guardian import MAX_SSODH_ATTEMPTS, GuardianPhase
from veracity_connector.settings import Settings
from veracity_connector.state import GatewayState

COMPETING_TEXT = "IBKR session in use on another device — syncing resumes when it is free"
MIDDAY = MONDAY_MIDNIGHT_NEW_YORK + 10 * 3600  # 10:00 in New York: no reset window


@pytest.fixture
def sim(gateway_sim_factory):
    # The real gateway's clocks: 6 idle minutes close the brokerage session; the SSO session
    # survives unless the machine sleeps for more than an hour.
    sim = gateway_sim_factory(manual_clock=True, idle_timeout_s=360, sso_sleep_timeout_s=3600)
    sim.control.login()
    return sim


def make_rig(sim, wall_start=MIDDAY):
    rig = guardian_rig(sim.base_url, sim.control, wall_start=wall_start)
    rig.step()
    assert rig.guardian.phase is GuardianPhase.OK
    return rig


@pytest.fixture
def rig(sim):
    built = make_rig(sim)
    yield built
    built.close()


def calls(sim, endpoint: str) -> int:
    return sim.control.endpoint(endpoint)["count"]


def assert_no_login_endpoint_calls(sim) -> None:
    assert calls(sim, "/logout") == 0
    assert calls(sim, "/iserver/reauthenticate") == 0


def test_tickles_once_a_minute_and_nothing_else_while_all_is_well(sim, rig):
    tickles = calls(sim, "/tickle")
    assert set(rig.run_for(3600)) == {"ok"}
    assert calls(sim, "/tickle") - tickles == 60
    assert calls(sim, "/iserver/auth/ssodh/init") == 0
    assert sim.control.pacing_violations() == []


def test_a_lost_brokerage_session_is_reopened_without_a_login(sim, rig):
    sim.control.session_event("brokerage_lost")
    rig.step()
    assert rig.guardian.phase is GuardianPhase.OK
    assert calls(sim, "/iserver/auth/ssodh/init") == 1
    assert rig.guardian.login_requests == 0
    assert_no_login_endpoint_calls(sim)


def test_failing_ssodh_init_is_retried_with_backoff_and_recovers(sim, rig):
    sim.control.session_event("brokerage_lost")
    sim.control.session_event("ssodh_init_fail", count=2)
    rig.step()
    assert rig.guardian.phase is GuardianPhase.RECOVERING
    check = rig.guardian.latest
    assert check.waiting and check.state is GatewayState.ERROR  # no "login needed" alarm
    started = rig.clock.elapsed
    rig.step()
    rig.step()
    assert rig.guardian.phase is GuardianPhase.OK
    assert calls(sim, "/iserver/auth/ssodh/init") == 3
    assert rig.clock.elapsed - started == 15 + 30  # the backoff, not a tight loop
    assert rig.guardian.login_requests == 0


def test_a_brokerage_session_that_never_reopens_asks_for_one_login_and_stops_trying(sim, rig):
    sim.control.session_event("brokerage_lost")
    sim.control.session_event("ssodh_init_fail", count=1000)
    phases = rig.run_for(4 * 3600)  # through Hong Kong's reset window (11:50 New York) too
    assert calls(sim, "/iserver/auth/ssodh/init") == MAX_SSODH_ATTEMPTS
    asked = phases.index("login_needed")
    assert set(phases[:asked]) == {"recovering"} and set(phases[asked:]) == {"login_needed"}
    assert rig.guardian.latest.state is GatewayState.UNAUTHENTICATED
    assert rig.guardian.login_requests == 1
    assert_no_login_endpoint_calls(sim)
    sim.control.login()  # the person logs in: back to ok at the next tickle
    rig.step()
    assert rig.guardian.phase is GuardianPhase.OK


def test_a_competing_session_is_left_alone_and_syncing_resumes_when_it_ends(sim, rig):
    sim.control.session_event("competing_start", platform="IBKR Mobile")
    phases = rig.run_for(1800)
    assert set(phases) == {"competing"}
    check = rig.guardian.latest
    assert check.state is GatewayState.COMPETING and check.message == COMPETING_TEXT
    assert calls(sim, "/iserver/auth/ssodh/init") == 0
    assert sim.control.session()["competing"] is True  # the phone kept its session
    sim.control.session_event("competing_end")
    rig.step()
    assert rig.guardian.phase is GuardianPhase.OK
    assert calls(sim, "/iserver/auth/ssodh/init") == 1
    assert rig.guardian.login_requests == 0
    assert_no_login_endpoint_calls(sim)


def test_the_nightly_reset_raises_no_alarm_and_recovers_after_its_outage(sim):
    rig = make_rig(sim, wall_start=MONDAY_MIDNIGHT_NEW_YORK + 3600 - 300)  # 00:55 in New York
    try:
        sim.control.schedule([{"at_s": 300, "event": "nightly_reset", "outage_s": 180}])
        phases = rig.run_for(1800)
        assert "maintenance" in phases and "login_needed" not in phases
        assert phases[-1] == "ok"
        assert rig.guardian.login_requests == 0
        assert_no_login_endpoint_calls(sim)
    finally:
        rig.close()


def test_outside_a_reset_window_the_same_outage_is_recovered_too(sim, rig):
    sim.control.session_event("nightly_reset", outage_s=180)
    phases = rig.run_for(1800)
    assert phases[0] == "recovering" and phases[-1] == "ok" and "login_needed" not in phases


def test_an_idle_spell_closes_only_the_brokerage_session_which_is_reopened(sim, rig):
    rig.clock.advance(1200)  # the connector was stopped; the gateway's own pings kept SSO
    rig.step()
    assert rig.guardian.phase is GuardianPhase.OK
    assert calls(sim, "/iserver/auth/ssodh/init") == 1


def test_a_gone_session_asks_for_a_login_at_once_without_ssodh_init(sim, rig):
    sim.control.session_event("gateway_restart", down_s=90)
    rig.step()
    assert rig.guardian.phase is GuardianPhase.UNREACHABLE
    rig.step()
    assert rig.guardian.phase is GuardianPhase.LOGIN_NEEDED
    assert calls(sim, "/iserver/auth/ssodh/init") == 0
    assert rig.guardian.login_requests == 1


class Clocks:
    def __init__(self) -> None:
        self.monotonic, self.wall = 8_000.0, MIDDAY


def unpaired_engine(sim, folders, clocks) -> Engine:
    settings = Settings(veracity_url="", gateway_url=sim.base_url, key_store="file")
    return Engine(settings, folders, clock=lambda: clocks.monotonic,
                  wall_clock=lambda: clocks.wall, write_status_file=False)


@pytest.mark.parametrize(("sleep_s", "phase", "ssodh_calls"), [
    (1200, GuardianPhase.OK, 1),  # SSO survived: ssodh/init reopens the brokerage session
    (3 * 3600, GuardianPhase.LOGIN_NEEDED, 0),  # SSO gone: only a login helps
])
def test_after_a_sleep_the_engine_revalidates_at_once(sim, folders, sleep_s, phase,
                                                      ssodh_calls):
    clocks = Clocks()
    engine = unpaired_engine(sim, folders, clocks)
    try:
        engine.step()
        assert engine.session.phase is GuardianPhase.OK
        tickles = calls(sim, "/tickle")
        # Linux and macOS: the monotonic clock stops during sleep, the wall clock does not.
        sim.control.session_event("sleep", seconds=sleep_s)
        clocks.wall += sleep_s
        clocks.monotonic += 1
        engine.step()  # no tickle was due on the monotonic clock: the gap brings one
        assert calls(sim, "/tickle") == tickles + 1
        assert engine.session.phase is phase
        assert calls(sim, "/iserver/auth/ssodh/init") == ssodh_calls
    finally:
        engine.gateway.close()


def test_the_person_sees_the_competing_message_and_no_login_request(sim, folders):
    clocks = Clocks()
    engine = unpaired_engine(sim, folders, clocks)
    try:
        engine.step()
        sim.control.session_event("competing_start", platform="TWS")
        sim.control.advance_clock(60)
        clocks.monotonic += 60
        clocks.wall += 60
        engine.step()
        # Unpaired, the engine shows needs_token; the gateway part is what the tray shows.
        assert engine.status.gateway_state is GatewayState.COMPETING
        assert engine.status.gateway_message == COMPETING_TEXT
    finally:
        engine.gateway.close()
