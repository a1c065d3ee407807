"""A year of NAV through the gateway at pairing (issue 19): the engine driven one `step()` at a
time (fake schedule and wall clock) against the simulator's `/pa/performance` and the real
server's daily-history endpoint (gunicorn on loopback, SQLite read back directly)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from tests.client import engine_kit
from tests.client.engine_kit import ManualClock, new_user, serve_book
from veracity_connector.engine import Engine
from veracity_connector.history.gateway_history import PA_PACING_WINDOW_S
from veracity_connector.outbox import HISTORY

BOOK = [{"account_id": "U7001", "base_currency": "USD", "cash": {"USD": 5000},
         "positions": [{"conid": 9101, "ticker": "ACME", "market_price": 10.5, "quantity": 30}]},
        {"account_id": "U7002", "base_currency": "EUR", "cash": {"EUR": 700},
         "positions": [{"conid": 9102, "ticker": "BOLT", "market_price": 20, "quantity": 4}]}]
PERFORMANCE = "/pa/performance"


@pytest.fixture
def book(simulator):
    return serve_book(simulator, BOOK)


def make_engine(simulator, server, folders, clock) -> Engine:
    # Nothing but history is due in these tests: snapshots are far apart.
    return engine_kit.make_engine(simulator, server, folders, clock,
                                  full_snapshot_interval_s=100_000,
                                  snapshot_interval_s=100_000)


def paired_engine(simulator, server, folders, clock) -> Engine:
    email = new_user(server, "history")
    engine = make_engine(simulator, server, folders, clock)
    assert engine.pair(server.issue_token(email)).ok
    return engine


def stored_points(server, folders, source: str = "gateway") -> dict[str, int]:
    """{account: points} the server stored from this test's connector."""
    connector_id = json.loads((folders.data_dir / "pairing.json").read_text())["connector_id"]
    path = server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT account_id, COUNT(*) FROM daily_history_points WHERE source = ? "
            "AND connector_id = ? GROUP BY account_id", (source, connector_id)).fetchall()
    return dict(rows)


def performance_requests(simulator) -> int:
    return simulator.control.endpoint(PERFORMANCE)["count"]


def run_steps(engine: Engine, clock: ManualClock, steps: int, advance_s: float = 5.0) -> None:
    for _ in range(steps):
        engine.step()
        clock.advance(advance_s)


def expected_days(simulator) -> dict[str, int]:
    """The simulator's own answer, asked directly (pacing off so it does not count against us)."""
    simulator.control.set_pacing(enabled=False)
    try:
        session = requests.Session()
        session.verify = False
        body = session.post(f"{simulator.base_url}/v1/api{PERFORMANCE}",
                            json={"acctIds": ["U7001", "U7002"], "period": "1Y"},
                            timeout=10, verify=False).json()
    finally:
        simulator.control.set_pacing(enabled=True)
    return {row["id"]: sum(1 for nav in row["navs"] if nav is not None)
            for row in body["nav"]["data"]}


def test_pairing_backfills_a_year_once_and_never_asks_again(book, server, folders):
    clock = ManualClock(1_800_000_000.0)
    engine = paired_engine(book, server, folders, clock)
    run_steps(engine, clock, 4)
    assert performance_requests(book) == 1
    assert engine.outbox.count(HISTORY) == 0  # delivered and acknowledged
    stored = stored_points(server, folders)
    state = engine.history.state()
    assert state.gateway.done and state.gateway.state == "done"
    assert state.gateway.acknowledged_day == state.gateway.last_day
    # Later steps (within the pacing window and long after) never ask again.
    for advance in (60.0, PA_PACING_WINDOW_S, 24 * 3600.0):
        clock.advance(advance)
        run_steps(engine, clock, 1)
    engine.stop()
    # A restart of the connector neither asks nor stores anything new.
    again = make_engine(book, server, folders, clock)
    run_steps(again, clock, 3)
    assert performance_requests(book) == 1
    assert stored_points(server, folders) == stored
    assert book.control.pacing_violations() == []
    assert stored == expected_days(book)  # every day of both accounts, exactly once
    assert min(stored.values()) > 200  # a year of business days


def test_refused_history_is_asked_again_after_the_pacing_window_not_in_a_loop(book, server,
                                                                              folders):
    clock = ManualClock(1_800_000_000.0)
    book.control.add_fault("status", endpoint=PERFORMANCE, count=1, status=503)
    engine = paired_engine(book, server, folders, clock)
    run_steps(engine, clock, 3)
    assert performance_requests(book) == 1
    state = engine.history.state().gateway
    assert (state.state, state.done) == ("refused", False)
    assert "asked for again later" in state.message
    [check] = engine.history.health_checks()  # what the heartbeat's health summary carries
    assert (check.name, check.level) == ("history gateway", "warn")
    assert "refused" in check.detail
    # Every step for almost 15 minutes: not one more request.
    run_steps(engine, clock, 5, advance_s=(PA_PACING_WINDOW_S - 30) / 5)
    assert performance_requests(book) == 1
    assert stored_points(server, folders) == {}
    # IBKR's window has passed (the simulator's pacing stands for it: turned off here).
    book.control.set_pacing(enabled=False)
    clock.advance(60)
    run_steps(engine, clock, 3)
    assert performance_requests(book) == 2
    assert engine.history.state().gateway.done
    assert set(stored_points(server, folders)) == {"U7001", "U7002"}


def test_paced_history_waits_for_the_window(book, server, folders):
    clock = ManualClock(1_800_000_000.0)
    # Another program asked /pa/performance just now: the gateway paces our request (429).
    session = requests.Session()
    session.verify = False
    session.post(f"{book.base_url}/v1/api{PERFORMANCE}", json={"acctIds": ["U7001"]}, timeout=10,
                 verify=False)
    engine = paired_engine(book, server, folders, clock)
    run_steps(engine, clock, 3)
    state = engine.history.state().gateway
    assert state.state == "paced"
    assert book.control.endpoint(PERFORMANCE)["refused_429"] == 1
    assert state.next_try_at - clock.now() >= PA_PACING_WINDOW_S - 60
    run_steps(engine, clock, 3, advance_s=250)
    assert performance_requests(book) == 2  # the other program's and our one refused request


def test_not_logged_in_gateway_is_not_asked_until_login(book, server, folders):
    clock = ManualClock(1_800_000_000.0)
    book.control.logout()
    engine = paired_engine(book, server, folders, clock)
    run_steps(engine, clock, 2, advance_s=70)
    assert performance_requests(book) == 0
    assert engine.history.state().gateway.state == "pending"
    book.control.login()
    run_steps(engine, clock, 3, advance_s=70)
    assert performance_requests(book) == 1
    assert engine.history.state().gateway.done
