"""Delivery at its edges, with real processes: a connector killed while Veracity is answering,
and a revoked key whose unsent snapshots wait for the same account to pair again.

Between the connector and Veracity sits a small TCP relay on loopback that can hold back
Veracity's answers: the request reaches the server (which stores the snapshot), the answer never
reaches the connector — the moment a SIGKILL hurts most.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import E2E_EMAIL, ConnectorCLI
from tests.e2e.test_kill_soak import logged, stored_on_server
from tests.support.processes import ManagedProcess, free_port
from tests.support.waiting import wait_until

ONE_ACCOUNT = [{
    "account_id": "U1", "base_currency": "USD", "cash": {"USD": 500},
    "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10, "quantity": 3}],
    "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9", "quantity": 3}],
}]
QUEUED = re.compile(r"snapshot ([0-9a-f-]{36}) queued")
ALREADY_STORED = re.compile(r"snapshot ([0-9a-f-]{36}) was already stored")


class AnswerHoldingRelay:
    """A TCP relay to Veracity that, while `holding`, forwards requests but keeps the answers."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.holding = threading.Event()
        self.held_snapshot_answers = 0
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            state = {"snapshot": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, state: dict[str, bool],
              to_server: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if to_server:
                    state["snapshot"] = chunk.startswith(b"POST /api/v1/connector/snapshots")
                elif self.holding.is_set():
                    if state["snapshot"]:
                        self.held_snapshot_answers += 1
                    continue  # the server answered; the connector never hears it
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        for held in self._sockets:
            held.close()


@pytest.fixture
def relay(veracity) -> Iterator[AnswerHoldingRelay]:
    relay = AnswerHoldingRelay(veracity.port)
    try:
        yield relay
    finally:
        relay.close()


def outbox_ids(connector: ConnectorCLI) -> list[str]:
    with sqlite3.connect(connector.home / "data" / "outbox.sqlite3") as outbox:
        return [snapshot_id for (snapshot_id,) in outbox.execute(
            "SELECT snapshot_id FROM outbox WHERE kind = 'snapshot' ORDER BY seq")]


def run_process(connector: ConnectorCLI, log_name: str) -> ManagedProcess:
    process = ManagedProcess([sys.executable, "-m", "veracity_connector", "run"],
                             env=connector.env, log_path=connector.home / log_name)
    process.start()
    return process


@pytest.mark.timeout(420)
def test_a_snapshot_whose_answer_was_lost_to_a_sigkill_is_stored_once_after_restart(
        veracity, gateway_process, relay, tmp_path: Path) -> None:
    gateway_process.control.set_accounts(ONE_ACCOUNT)
    connector = ConnectorCLI(tmp_path / "connector", relay.url, gateway_process.base_url)
    # The answer is awaited, not given up on, until the kill.
    connector.env["IBKR_CONNECTOR_VERACITY_TIMEOUT_S"] = "120"
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0

    relay.holding.set()
    first_run = run_process(connector, "first-run.log")
    try:
        wait_until(lambda: relay.held_snapshot_answers >= 1, 180,
                   lambda: "the server to answer a snapshot the relay holds back\n"
                           + first_run.output())
        held = logged(connector.home / "logs", QUEUED)
        assert held, "no snapshot was queued"
        # Stored on the server, still waiting in the connector's outbox: now the kill.
        wait_until(lambda: set(held) & set(stored_on_server(veracity.database_url)), 30,
                   "the held snapshot stored on the server")
        assert set(held) & set(outbox_ids(connector))
        assert first_run.process is not None
        os.kill(first_run.process.pid, signal.SIGKILL)
        first_run.process.wait(timeout=30)
    finally:
        first_run.stop()

    relay.holding.clear()
    second_run = run_process(connector, "second-run.log")
    try:
        wait_until(lambda: not outbox_ids(connector), 180,
                   lambda: "the outbox to drain after the restart\n" + second_run.output(),
                   interval_s=0.5)
    finally:
        second_run.stop()

    stored = stored_on_server(veracity.database_url)
    queued = logged(connector.home / "logs", QUEUED)
    assert set(queued) <= set(stored)  # none lost
    assert all(count == 1 for count in stored.values()), stored  # none stored twice
    # The one whose answer was lost was sent again and recognised as already stored.
    assert set(held) & set(logged(connector.home / "logs", ALREADY_STORED))


def revoke_every_connector(veracity, email: str) -> None:
    session = veracity.login(email)
    listed = session.get(veracity.url("/api/v1/profile/ibkr/connectors"), timeout=10).json()
    for item in listed["connectors"]:
        if item["status"] != "revoked":
            session.post(veracity.url(f"/api/v1/profile/ibkr/connectors/{item['id']}/revoke"),
                         timeout=10).raise_for_status()


@pytest.mark.timeout(420)
def test_unsent_snapshots_survive_a_revocation_and_reach_the_same_account_after_pairing_again(
        connector, veracity, gateway_process) -> None:
    gateway_process.control.set_accounts(ONE_ACCOUNT)
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    revoke_every_connector(veracity, E2E_EMAIL)

    refused = connector("sync", "--once")
    assert refused.returncode == 9, refused.stdout + refused.stderr  # key refused, deleted
    kept = outbox_ids(connector)
    assert len(kept) == 1, "the snapshot taken with the refused key is kept"
    assert kept[0] not in stored_on_server(veracity.database_url)

    paired = connector("pair", veracity.issue_token(E2E_EMAIL))
    assert paired.returncode == 0, paired.stdout + paired.stderr
    delivered = connector("sync", "--once")
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    assert kept[0] in stored_on_server(veracity.database_url)
    assert not outbox_ids(connector)


@pytest.mark.timeout(420)
def test_pairing_with_another_account_keeps_the_snapshots_until_told_to_drop_them(
        connector, veracity, gateway_process) -> None:
    gateway_process.control.set_accounts(ONE_ACCOUNT)
    veracity.create_user("other@example.com")
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    revoke_every_connector(veracity, E2E_EMAIL)
    assert connector("sync", "--once").returncode == 9
    kept = outbox_ids(connector)
    assert len(kept) == 1

    token = veracity.issue_token("other@example.com")
    asked = connector("pair", token)
    assert asked.returncode == 11, asked.stdout + asked.stderr
    assert "--discard-outbox" in asked.stdout + asked.stderr
    assert outbox_ids(connector) == kept and not connector.key_file.exists()

    dropped = connector("pair", token, "--discard-outbox")
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert not outbox_ids(connector)
    assert connector("sync", "--once").returncode == 0
    assert kept[0] not in stored_on_server(veracity.database_url)
