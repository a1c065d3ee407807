"""Opt-in Flex history (issue 19) against the simulator's Flex Web Service and the real server:
set-up → a year's backfill in one SendRequest, then daily gap fill; idempotence across a
restart; each failure answer → its own state, message and next try (never a loop)."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ibkr_gateway_sim.control import SimulatorControl
from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.server import SimulatorServer
from tests.client import engine_kit
from tests.client.engine_kit import ManualClock, new_user
from veracity_connector.engine import Engine
from veracity_connector.history.backfill import HistoryDuty, latest_published_day
from veracity_connector.history.flex_setup import load_flex_setup, save_flex_setup
from veracity_connector.outbox import HISTORY, Outbox
from veracity_connector.settings import Folders, Settings

TOKENS = itertools.count(100)
BOOK = [{"account_id": "U8001", "base_currency": "USD", "cash": {"USD": 5000},
         "positions": [{"conid": 9201, "ticker": "ACME", "market_price": 10.5, "quantity": 30},
                       {"conid": 9202, "ticker": "BOLT", "market_price": 20, "quantity": 4}]},
        {"account_id": "U8002", "base_currency": "EUR", "cash": {"EUR": 700},
         "positions": [{"conid": 9203, "ticker": "CORE", "market_price": 7, "quantity": 12}]}]
FAST_POLLS = (0.0, 0.5, 1.0, 1.0, 2.0)
DAY_S = 86400.0


@pytest.fixture
def plain_simulator() -> Iterator[tuple[SimulatorServer, SimulatorControl]]:
    """The simulator over plain http on loopback (its Flex service at the same address)."""
    server = SimulatorServer(SimulatorOptions(idle_timeout_s=3600, penalty_box_s=2),
                             use_tls=False).start()
    control = SimulatorControl(server.base_url)
    control.configure(preflight_empty_orders=False, positions_cache_s=0)
    control.set_accounts(BOOK)
    control.login()
    control.flex_configure(generation_delay_s=0.5)
    try:
        yield server, control
    finally:
        control.close()
        server.stop()


def flex_url(simulator: SimulatorServer) -> str:
    return f"{simulator.base_url}/AccountManagement/FlexWebService"


def new_token(control: SimulatorControl, **fields) -> str:
    token = f"{next(TOKENS):024d}"
    control.flex_create_token(token=token, expires_in_s=fields.pop("expires_in_s", 86400),
                              **fields)
    return token


def make_engine(simulator, server, folders, clock) -> Engine:
    engine = engine_kit.make_engine(simulator, server, folders, clock,
                                    flex_url=flex_url(simulator),
                                    full_snapshot_interval_s=100_000,
                                    snapshot_interval_s=100_000)
    engine.history._flex_poll_waits_s = FAST_POLLS
    return engine


def stored(server, folders, source: str = "flex") -> dict[str, tuple[int, str, str]]:
    """{account: (points, first day, last day)} stored from this test's connector."""
    connector_id = json.loads((folders.data_dir / "pairing.json").read_text())["connector_id"]
    with sqlite3.connect(server.database_url.removeprefix("sqlite:///")) as connection:
        rows = connection.execute(
            "SELECT account_id, COUNT(*), MIN(report_date), MAX(report_date) FROM "
            "daily_history_points WHERE source = ? AND connector_id = ? GROUP BY account_id",
            (source, connector_id)).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def with_positions(server, folders) -> int:
    connector_id = json.loads((folders.data_dir / "pairing.json").read_text())["connector_id"]
    with sqlite3.connect(server.database_url.removeprefix("sqlite:///")) as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM daily_history_points WHERE source = 'flex' AND connector_id = ?"
            " AND position_count > 0", (connector_id,)).fetchone()[0]


def send_requests(control: SimulatorControl) -> int:
    return flex_counts(control)["SendRequest"]


def flex_counts(control: SimulatorControl) -> dict[str, int]:
    calls = control.flex_requests()["calls"]
    return {step: calls.get(step, 0) for step in ("SendRequest", "GetStatement")}


def settle(engine: Engine, clock: ManualClock, steps: int = 4) -> None:
    """Steps until the Flex thread ended and what it queued was delivered."""
    for _ in range(steps):
        engine.step()
        engine.history.wait_for_flex(120)
        clock.advance(2)


def test_flex_backfills_a_year_then_fills_the_gap_after_days_off(plain_simulator, server,
                                                                 folders):
    simulator, control = plain_simulator
    clock = ManualClock(time.time() - 10 * DAY_S)  # the set-up happened ten days ago
    email = new_user(server, "flex")
    engine = make_engine(simulator, server, folders, clock)
    assert engine.pair(server.issue_token(email)).ok
    token = new_token(control)
    save_flex_setup("file", folders.data_dir, token, control.flex()["demo"]["query_id"])
    settle(engine, clock)
    assert send_requests(control) == 1  # a year in one statement
    first = stored(server, folders)
    assert set(first) == {"U8001", "U8002"}
    backfill_last = latest_published_day(clock.now())
    for points, first_day, last_day in first.values():
        assert points > 200  # business days of a year
        assert last_day <= backfill_last.isoformat()
        assert first_day >= (backfill_last - timedelta(days=365)).isoformat()
    assert with_positions(server, folders) > 400  # end-of-day positions came along
    assert engine.outbox.count(HISTORY) == 0
    state = engine.history.state().flex
    assert (state.state, state.done, state.last_day) == ("ok", True, backfill_last.isoformat())
    # Same day again: nothing is due until IBKR publishes the next day.
    settle(engine, clock, steps=2)
    assert send_requests(control) == 1
    engine.stop()

    # The PC was off for ten days: the next run fetches just what is missing, once.
    clock.advance(10 * DAY_S)
    engine = make_engine(simulator, server, folders, clock)
    settle(engine, clock)
    assert send_requests(control) == 2
    gap = stored(server, folders)
    newest = latest_published_day(clock.now())
    for account, (points, _first_day, last_day) in gap.items():
        assert points > first[account][0]  # the missing business days were added
        assert last_day > first[account][2]
        assert last_day <= newest.isoformat()
    engine.stop()
    # A restart stores nothing new and asks nothing.
    engine = make_engine(simulator, server, folders, clock)
    settle(engine, clock, steps=2)
    assert send_requests(control) == 2
    assert stored(server, folders) == gap
    assert all(token_calls.get("refused_1018", 0) == 0
               for token_calls in control.flex_requests()["tokens"].values())


@pytest.fixture
def duty_for(plain_simulator, tmp_path: Path):
    """A HistoryDuty on its own data folder (its own Flex pacing), Flex set up with `token`."""
    simulator, _control = plain_simulator
    names = itertools.count()

    def build(token: str, query_id: str) -> tuple[HistoryDuty, Folders]:
        folders = Folders.from_environment(
            {"IBKR_CONNECTOR_HOME": str(tmp_path / f"duty-{next(names)}")})
        save_flex_setup("file", folders.data_dir, token, query_id)
        duty = HistoryDuty(data_dir=folders.data_dir, key_store="file", gateway=None,  # type: ignore[arg-type]
                           outbox=Outbox(folders.data_dir / "outbox.sqlite3"),
                           flex_url=flex_url(simulator), proxy=None,
                           stop_event=threading.Event(), flex_poll_waits_s=FAST_POLLS)
        return duty, folders
    return build


FAILURES = [
    # (how to provoke it, expected state, words in the message, the person must act)
    ("expired", "token_expired", "Generate a new token", True),
    ("unknown", "token_invalid", "Flex Web Service", True),
    ("ip", "ip_not_allowed", "IP", True),
    ("query", "query_invalid", "Flex Queries", True),
    ("no_nav_section", "query_missing_section", "Net Asset Value", True),
    ("csv", "malformed_xml", "XML", False),
    ("1018", "too_many_requests", "tries again later", False),
    ("1009", "service_busy", "tries again later", False),
    ("1019", "not_ready", "tries again later", False),
    ("1003", "statement_unavailable", "tomorrow", False),
    ("1011", "service_inactive", "activate", True),
]


@pytest.mark.parametrize(("provoke", "state", "words", "fatal"), FAILURES,
                         ids=[case[0] for case in FAILURES])
def test_each_flex_failure_has_its_state_and_stores_nothing(plain_simulator, duty_for, provoke,
                                                            state, words, fatal):
    _simulator, control = plain_simulator
    query_id = control.flex()["demo"]["query_id"]
    token = new_token(control)
    if provoke == "expired":
        control.flex_change_token(token, expires_in_s=-1)
    elif provoke == "unknown":
        token = "999999999999999999999999"
    elif provoke == "ip":
        control.flex_change_token(token, ip="203.0.113.9")
    elif provoke == "query":
        query_id = "111"
    elif provoke == "no_nav_section":
        query_id = str(control.flex_create_query(
            query_id="5550001", sections=["AccountInformation", "OpenPositions"])["query_id"])
    elif provoke == "csv":
        query_id = str(control.flex_create_query(query_id="5550002", output="CSV")["query_id"])
    elif provoke == "1011":
        control.flex_change_token(token, active=False)
    elif provoke == "1019":
        control.flex_configure(generation_polls=50)
    else:
        control.flex_inject_error(int(provoke), step="SendRequest", count=1)
    duty, folders = duty_for(token, query_id)
    setup = load_flex_setup("file", folders.data_dir)
    assert setup is not None
    started = time.time()
    assert duty.fetch_flex(setup) is False
    flex = duty.state().flex
    assert flex.state == state
    assert words in flex.message
    assert duty._outbox.count() == 0  # nothing half stored
    wait = flex.next_try_at - started
    assert wait >= (23 * 3600 if fatal else 25 * 60)  # a later try, never a loop
    assert not flex.done
    assert flex.requests == sum(flex_counts(control).values())
    flex_check = duty.health_checks()[-1]  # what the heartbeat's health summary carries
    assert (flex_check.name, flex_check.level) == ("history flex", "fail" if fatal else "warn")
    assert state in flex_check.detail


def test_an_unexpected_error_in_a_flex_fetch_does_not_become_a_loop(plain_simulator, duty_for,
                                                                    monkeypatch):
    _simulator, control = plain_simulator
    duty, _folders = duty_for(new_token(control), control.flex()["demo"]["query_id"])

    def broken(_xml: bytes):
        raise RuntimeError("a bug")

    monkeypatch.setattr("veracity_connector.history.backfill.parse_statement", broken)
    assert duty.run_due(gateway_ok=False, flex_in_thread=False) is False
    asked = sum(flex_counts(control).values())
    assert asked >= 2  # SendRequest and at least one GetStatement
    for _ in range(3):  # every later step: not one more request
        duty.run_due(gateway_ok=False, flex_in_thread=False)
    assert sum(flex_counts(control).values()) == asked
    flex = duty.state().flex
    assert flex.next_try_at - time.time() > 25 * 60 and not flex.done


def test_doctor_checks_the_flex_setup(plain_simulator, tmp_path):
    from veracity_connector.history.flex_doctor import flex_checks

    simulator, control = plain_simulator
    folders = Folders.from_environment({"IBKR_CONNECTOR_HOME": str(tmp_path / "doctor")})
    settings = Settings(key_store="file", flex_url=flex_url(simulator))
    [not_set_up] = flex_checks(settings, folders)
    assert not_set_up.level == "ok" and "not set up" in not_set_up.detail
    assert sum(flex_counts(control).values()) == 0  # nothing asked without a set-up

    save_flex_setup("file", folders.data_dir, new_token(control),
                    control.flex()["demo"]["query_id"])
    assert [check.level for check in flex_checks(settings, folders)] == ["ok", "ok"]

    no_positions = control.flex_create_query(
        query_id="5550003", sections=["AccountInformation", "EquitySummaryInBase"])["query_id"]
    save_flex_setup("file", folders.data_dir, new_token(control), str(no_positions))
    token_check, query_check = flex_checks(settings, folders)
    assert (token_check.level, query_check.level) == ("ok", "warn")
    assert "Flex Queries" in query_check.fix

    expired = new_token(control)
    control.flex_change_token(expired, expires_in_s=-1)
    save_flex_setup("file", folders.data_dir, expired, control.flex()["demo"]["query_id"])
    [failed] = flex_checks(settings, folders)
    assert failed.level == "fail" and "token_expired" in failed.detail
    assert "Account Settings → Flex Web Service" in failed.fix
