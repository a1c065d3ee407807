"""Faults end to end: gateway trouble reaches the heartbeat without a crash; Veracity down
loses nothing; a revoked key stops the connector. Real processes: simulator, gunicorn, CLI."""

from __future__ import annotations

import re
import sqlite3

import requests

from tests.e2e.conftest import E2E_EMAIL
from tests.support.waiting import wait_until

ONE_ACCOUNT = [{
    "account_id": "U1", "base_currency": "USD", "cash": {"USD": 500},
    "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10, "quantity": 3}],
    "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9", "quantity": 3}],
}]


def the_connector(veracity):
    listed = veracity.login(E2E_EMAIL).get(veracity.url("/api/v1/profile/ibkr/connectors"),
                                           timeout=10).json()["connectors"]
    assert len(listed) == 1
    return listed[0]


def wait_for_gateway_state(veracity, connector, state):
    def reported():
        gateway = the_connector(veracity).get("gateway") or {}
        return gateway.get("state") == state
    wait_until(reported, 45, lambda: f"the heartbeat to report gateway state {state!r}\n"
                                     f"{connector.output()}")


def test_gateway_trouble_is_reported_in_the_heartbeat_and_survived(
        connector, veracity, gateway_process):
    control = gateway_process.control
    control.set_accounts(ONE_ACCOUNT)
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    with connector.start_run() as run:
        wait_for_gateway_state(veracity, connector, "ok")

        control.logout()
        wait_for_gateway_state(veracity, connector, "unauthenticated")
        assert connector.status()["state"] == "gateway_unauthenticated"
        control.login()
        wait_for_gateway_state(veracity, connector, "ok")

        control.make_competing()
        wait_for_gateway_state(veracity, connector, "competing")
        status = connector.status()  # steps aside: waiting, no login asked for
        assert status["state"] == "gateway_waiting", status
        assert status["message"] == ("IBKR session in use on another device — syncing resumes "
                                     "when it is free")
        ssodh_calls = control.endpoint("/iserver/auth/ssodh/init")["count"]
        control.session_event("competing_end")  # the other device logs out: back, no login
        wait_for_gateway_state(veracity, connector, "ok")
        assert control.endpoint("/iserver/auth/ssodh/init")["count"] == ssodh_calls + 1
        assert control.endpoint("/logout")["count"] == 0

        control.add_fault("status", status=502)  # every gateway endpoint, until cleared
        wait_for_gateway_state(veracity, connector, "error")
        control.clear_faults()
        wait_for_gateway_state(veracity, connector, "ok")

        # Another program breaks the pacing: the gateway's penalty box refuses everyone (429).
        for _ in range(2):
            requests.get(f"{gateway_process.base_url}/v1/api/portfolio/accounts",
                         verify=False, timeout=5)  # noqa: S501 (self-signed loopback)
        wait_for_gateway_state(veracity, connector, "error")
        wait_for_gateway_state(veracity, connector, "ok")  # after the penalty and our back-off

        gateway_process.stop()
        wait_for_gateway_state(veracity, connector, "unreachable")
        assert connector.status()["state"] == "gateway_unreachable"
        gateway_process.start()
        wait_for_gateway_state(veracity, connector, "ok")
        assert run.poll() is None  # never crashed
    log = connector.log_file.read_text()
    assert "Traceback" not in log


def stored_snapshot_ids(veracity) -> list[str]:
    path = veracity.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as database:
        return [row[0] for row in database.execute(
            "SELECT snapshot_id FROM snapshot_documents")]


def test_snapshots_taken_while_veracity_is_down_all_arrive_once(
        connector, veracity, gateway_process):
    control = gateway_process.control
    control.set_accounts(ONE_ACCOUNT)
    control.configure(price_tick_interval_s=1.0)  # every snapshot differs
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    with connector.start_run():
        wait_until(lambda: stored_snapshot_ids(veracity), 60, "the first snapshot")
        veracity.stop()
        # Several snapshot intervals (10 s each) without Veracity.
        wait_until(lambda: (connector.status()["pending_snapshots"] or 0) >= 3, 90,
                   "three snapshots waiting in the outbox", interval_s=0.5)
        assert connector.status()["state"] == "veracity_unreachable"
        veracity.start()  # same port, same database
        wait_until(lambda: connector.status()["pending_snapshots"] == 0, 60,
                   "the outbox to drain", interval_s=0.5)
        wait_until(lambda: connector.status()["state"] == "syncing", 30, "syncing again",
                   interval_s=0.5)
    queued = re.findall(r"snapshot ([0-9a-f-]{36}) queued", connector.log_file.read_text())
    stored = stored_snapshot_ids(veracity)
    assert len(queued) >= 4
    assert set(queued) == set(stored)  # none lost
    assert len(stored) == len(set(stored))  # none stored twice


def test_revoked_key_stops_sending_deletes_the_key_and_needs_a_token(
        connector, veracity, gateway_process):
    gateway_process.control.set_accounts(ONE_ACCOUNT)
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    with connector.start_run() as run:
        wait_until(lambda: connector.status()["state"] == "syncing", 60, "syncing",
                   interval_s=0.5)
        connector_id = the_connector(veracity)["id"]
        session = veracity.login(E2E_EMAIL)
        session.post(veracity.url(f"/api/v1/profile/ibkr/connectors/{connector_id}/revoke"),
                     timeout=10).raise_for_status()
        status = wait_until(lambda: (s := connector.status())["state"] == "needs_token" and s,
                            30, "needs_token after the revocation", interval_s=0.5)
        assert "no longer accepts" in status["message"]
        assert not connector.key_file.exists()
        last_seen = the_connector(veracity)["last_seen_at"]
        status_file = connector.home / "data" / "status.json"
        refreshed = status_file.stat().st_mtime
        # Let the engine run on for a while (it rewrites its status file every 10 s) ...
        wait_until(lambda: status_file.stat().st_mtime > refreshed + 5, 40, "the engine to go on")
        # ... without a single request reaching Veracity.
        assert the_connector(veracity)["last_seen_at"] == last_seen
        assert the_connector(veracity)["status"] == "revoked"
        assert run.poll() is None
        sync = connector("sync", "--once")
        assert sync.returncode == 4  # not paired
