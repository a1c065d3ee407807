"""The engine's state machine, driven one `step()` at a time (fake schedule clock), against the
simulator (HTTPS) and the real server (gunicorn on loopback)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from tests.client.engine_kit import (
    CLOCK_START,
    SMALL_BOOK,
    ManualClock,
    make_engine,
    new_user,
    serve_book,
)
from tests.support.server_fixtures import start_live_server
from veracity_connector.credentials import FileStore
from veracity_connector.engine import Engine, SyncOutcome
from veracity_connector.settings import Settings
from veracity_connector.state import ConnectorState, GatewayState
from veracity_connector.status_file import STATUS_FILE_NAME


@pytest.fixture
def small_book(simulator):
    return serve_book(simulator, SMALL_BOOK)


def connectors(server, email):
    return server.login(email).get(server.url("/api/v1/profile/ibkr/connectors"),
                                   timeout=10).json()["connectors"]


def test_unpaired_engine_needs_a_token_and_sends_nothing(small_book, server, folders):
    engine = make_engine(small_book, server, folders, ManualClock(CLOCK_START))
    engine.step()
    assert engine.status.state is ConnectorState.NEEDS_TOKEN
    assert engine.status.gateway_state is GatewayState.OK  # the gateway is watched anyway
    assert engine.veracity.request_count == 0
    assert engine.run_once().outcome is SyncOutcome.NOT_PAIRED


def test_malformed_and_used_tokens_are_explained(small_book, server, folders):
    engine = make_engine(small_book, server, folders, ManualClock(CLOCK_START))
    assert engine.pair("hello").code == "malformed_token"
    email = new_user(server)
    token = server.issue_token(email)
    assert engine.pair(token).ok
    engine.unpair()
    outcome = engine.pair(token)
    assert (outcome.ok, outcome.code) == (False, "token_used")
    assert "already used" in outcome.message
    assert engine.status.state is ConnectorState.NEEDS_TOKEN


def test_pairing_then_syncing_with_change_detection(small_book, server, folders):
    clock = ManualClock(CLOCK_START)
    engine = make_engine(small_book, server, folders, clock, full_snapshot_interval_s=1000)
    email = new_user(server)
    assert engine.pair(server.issue_token(email)).ok
    engine.step()
    assert engine.status.state is ConnectorState.SYNCING
    assert engine.counters.snapshots_delivered == 1
    assert engine.counters.heartbeats_sent == 1
    portfolio = server.login(email).get(server.url("/api/v1/profile/ibkr/portfolio"),
                                        timeout=10).json()
    [account] = portfolio["accounts"]
    assert {p["conid"] for p in account["positions"]} == {9001, 9002}
    assert [order["order_id"] for order in account["stop_orders"]] != []  # the stop, not the limit
    assert len(account["stop_orders"]) == 1

    clock.advance(120)  # the next snapshot is due: nothing changed, nothing is sent
    engine.step()
    assert engine.counters.snapshots_taken == 2
    assert engine.counters.snapshots_delivered == 1

    small_book.control.set_prices({9001: 11.75})
    clock.advance(120)
    engine.step()
    assert engine.counters.snapshots_delivered == 2
    portfolio = server.login(email).get(server.url("/api/v1/profile/ibkr/portfolio"),
                                        timeout=10).json()
    prices = {p["conid"]: p["market_price"] for p in portfolio["accounts"][0]["positions"]}
    assert prices[9001] == "11.75"

    clock.advance(1000)  # unchanged, but a full snapshot is due anyway
    engine.step()
    assert engine.counters.snapshots_delivered == 3


def test_server_schedule_is_followed(small_book, tmp_path, folders):
    env = {"VERACITY_HEARTBEAT_INTERVAL_S": "7", "VERACITY_SNAPSHOT_INTERVAL_S": "11"}
    with start_live_server(tmp_path / "s", env=env) as custom:
        clock = ManualClock(CLOCK_START)
        engine = make_engine(small_book, custom, folders, clock)
        email = new_user(custom)
        # Paired by another process (`ibkr-connector pair`): the engine learns the intervals
        # from its first heartbeat, after it planned the next snapshot with the default 120 s.
        _, key = custom.pair(email)
        FileStore(folders.data_dir / "connector-key").set(key)
        delay = engine.step()
        assert delay == pytest.approx(7, abs=1)  # next: the heartbeat, 7 s from now
        clock.advance(7)
        engine.step()
        assert engine.counters.heartbeats_sent == 2
        assert engine.seconds_until_due() == pytest.approx(4, abs=1)  # snapshot at 11 s


def test_revoked_key_is_deleted_and_nothing_more_is_sent(small_book, server, folders):
    clock = ManualClock(CLOCK_START)
    engine = make_engine(small_book, server, folders, clock)
    email = new_user(server)
    assert engine.pair(server.issue_token(email)).ok
    engine.step()
    seen = []
    engine.subscribe(lambda status: seen.append(status.state))
    [connector] = connectors(server, email)
    session = server.login(email)
    session.post(server.url(f"/api/v1/profile/ibkr/connectors/{connector['id']}/revoke"),
                 timeout=10).raise_for_status()
    clock.advance(60)
    engine.step()
    assert ConnectorState.REVOKED in seen
    assert engine.status.state is ConnectorState.NEEDS_TOKEN
    assert "no longer accepts" in engine.status.message
    assert not (folders.data_dir / "connector-key").exists()
    sent = engine.veracity.request_count
    clock.advance(600)
    engine.step()
    assert engine.veracity.request_count == sent


@pytest.mark.parametrize(("fault", "gateway_state", "connector_state"), [
    ("logout", GatewayState.UNAUTHENTICATED, ConnectorState.GATEWAY_UNAUTHENTICATED),
    ("competing", GatewayState.COMPETING, ConnectorState.GATEWAY_WAITING),
    ("5xx", GatewayState.ERROR, ConnectorState.GATEWAY_UNREACHABLE),
    ("down", GatewayState.UNREACHABLE, ConnectorState.GATEWAY_UNREACHABLE),
    ("429", GatewayState.ERROR, ConnectorState.GATEWAY_UNREACHABLE),
])
def test_gateway_trouble_reaches_the_heartbeat(small_book, server, folders, fault,
                                               gateway_state, connector_state):
    clock = ManualClock(CLOCK_START)
    engine = make_engine(small_book, server, folders, clock)
    email = new_user(server)
    assert engine.pair(server.issue_token(email)).ok
    engine.step()
    control = small_book.control
    if fault == "logout":
        control.logout()
    elif fault == "competing":
        control.make_competing()
    elif fault == "5xx":
        control.add_fault("status", endpoint="/tickle", status=500)
    elif fault == "429":
        # Another program on this machine tickles too: our next tickle breaks the 1/s limit.
        requests.post(f"{small_book.base_url}/v1/api/tickle", verify=False,  # noqa: S501
                      timeout=5)
    else:
        small_book.server.stop()
    clock.advance(60)
    engine.step()
    assert engine.status.state is connector_state
    assert engine.status.gateway_state is gateway_state
    [connector] = connectors(server, email)
    assert connector["gateway"]["state"] == gateway_state.value
    assert connector["gateway"]["port"] == engine.gateway.port
    if fault == "429":
        assert "429" in engine.status.gateway_message
        assert engine.pacer.seconds_until_free() > 0  # backing off: nothing sent meanwhile


def test_snapshots_taken_while_veracity_is_down_arrive_later_in_order(small_book, tmp_path,
                                                                       folders):
    clock = ManualClock(CLOCK_START)
    with start_live_server(tmp_path / "down") as live:
        engine = make_engine(small_book, live, folders, clock)
        email = new_user(live)
        assert engine.pair(live.issue_token(email)).ok
        engine.step()
        live.stop()
        taken = []
        for price in (12, 13):
            small_book.control.set_prices({9001: price})
            clock.advance(120)
            engine.step()
            assert engine.status.state is ConnectorState.VERACITY_UNREACHABLE
            taken.append(engine.outbox.oldest(10)[-1].snapshot_id)
        assert engine.outbox.count() == 2
        live.start()
        clock.advance(120)
        engine.step()
        assert engine.outbox.count() == 0
        assert engine.status.state is ConnectorState.SYNCING
        assert engine.counters.snapshots_delivered == 3
        history = live.login(email).get(live.url("/api/v1/profile/ibkr/portfolio"),
                                        timeout=10).json()["value_history"]
        # The 1D chart keeps one point per minute (the newest): these snapshots share a minute.
        assert history[0]["points"]
        for snapshot_id in taken:  # each one is stored: resending it is a duplicate
            body = {"snapshot_id": snapshot_id, "taken_at": "2020-01-01T00:00:00+00:00",
                    "accounts": []}
            assert engine.veracity.send_snapshot(FileStore(
                folders.data_dir / "connector-key").get(), body) is True


def test_an_unexpected_error_is_reported_and_the_loop_goes_on(folders):
    from tests.support.processes import free_port

    settings = Settings(veracity_url=f"http://127.0.0.1:{free_port()}",
                        gateway_url=f"https://127.0.0.1:{free_port()}", key_store="file")
    engine = Engine(settings, folders, credentials=FileStore(folders.data_dir / "k"))
    calls = []

    def broken_step():
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    engine.step = broken_step  # type: ignore[method-assign]
    engine.start()
    try:
        status = engine.holder.wait_for(lambda s: s.state is ConnectorState.ERROR, 10)
        assert status is not None and "keeps trying" in status.message
    finally:
        engine.stop()
    assert calls and not engine._thread.is_alive()


def unreachable_engine(folders) -> Engine:
    from tests.support.processes import free_port

    settings = Settings(veracity_url=f"http://127.0.0.1:{free_port()}",
                        gateway_url=f"https://127.0.0.1:{free_port()}", key_store="file")
    return Engine(settings, folders, credentials=FileStore(folders.data_dir / "k"))


def test_a_broken_outbox_at_start_still_marks_the_engine_stopped(folders, monkeypatch):
    engine = unreachable_engine(folders)

    def broken_count(*_kind: str) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(engine.outbox, "count", broken_count)
    with pytest.raises(sqlite3.OperationalError):
        engine.run()
    record = json.loads((folders.data_dir / STATUS_FILE_NAME).read_text(encoding="utf-8"))
    assert record["written_at"] == 0  # mark_stopped ran: readers see "not running"


def test_an_ongoing_unexpected_error_does_not_flip_back_to_another_state(folders, monkeypatch):
    monkeypatch.setattr("veracity_connector.engine.loop.UNEXPECTED_ERROR_RETRY_S", 0.01)
    engine = unreachable_engine(folders)
    states: list[ConnectorState] = []
    engine.holder.subscribe(lambda status: states.append(status.state))
    calls = []

    def failing_then_working_step() -> None:
        calls.append(1)
        engine._publish()  # as _check_session does mid-step
        if len(calls) < 5:
            raise sqlite3.OperationalError("disk I/O error")

    engine._step = failing_then_working_step  # type: ignore[method-assign]
    engine.start()
    try:
        assert engine.holder.wait_for(lambda s: len(calls) >= 5
                                      and s.state is not ConnectorState.ERROR, 10)
    finally:
        engine.stop()
    first_error = states.index(ConnectorState.ERROR)
    # One ERROR while failing, then the state once a step completes; nothing in between.
    assert states[first_error:] == [ConnectorState.ERROR, ConnectorState.NEEDS_TOKEN]


def test_gateway_data_the_connector_cannot_read_is_a_gateway_error_not_a_crash(
        small_book, server, folders, monkeypatch, caplog):
    engine = make_engine(small_book, server, folders, ManualClock(CLOCK_START))
    assert engine.pair(server.issue_token(new_user(server))).ok

    gateway_value = "U7654321"  # as data arrives: not in any source line of a traceback

    def unreadable(_gateway):
        raise ValueError(f"invalid literal for int() with base 10: {gateway_value!r}")

    monkeypatch.setattr("veracity_connector.engine.collection.take_snapshot", unreadable)
    with caplog.at_level("DEBUG"):
        engine.step()
    assert engine.status.gateway_state is GatewayState.ERROR
    assert "cannot read" in engine.status.gateway_message
    assert engine.counters.heartbeats_sent == 1  # the heartbeat still says how the gateway is
    assert "U7654321" not in caplog.text  # the gateway's data never reaches the log


def test_a_new_pairing_with_another_account_asks_before_dropping_snapshots(small_book, server,
                                                                          folders):
    engine = make_engine(small_book, server, folders, ManualClock(CLOCK_START))
    assert engine.pair(server.issue_token(new_user(server))).ok
    engine.outbox.put("0b8f5b1e-0000-4000-8000-000000000001", "2026-11-24T20:00:00+00:00", "{}")
    token = server.issue_token(new_user(server))  # another Veracity account
    refused = engine.pair(token)
    assert (refused.ok, refused.code) == (False, "other_account")
    assert engine.outbox.count() == 1
    assert engine.pair(token, discard_outbox=True).ok  # the same token finishes the pairing
    assert engine.outbox.count() == 0
