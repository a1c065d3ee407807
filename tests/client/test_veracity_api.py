"""The Veracity client against the real server (gunicorn on loopback), and its retry policy
against a scripted loopback HTTP server for the answers the real one cannot be made to give
(5xx, Retry-After)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.processes import free_port
from tests.support.server_fixtures import start_live_server
from veracity_connector.veracity_api import (
    KeyRevoked,
    PairingRejected,
    RequestRejected,
    VeracityClient,
    VeracityConfigurationError,
    VeracityRateLimited,
    VeracityUnavailable,
    validate_veracity_url,
)

DEVICE = {"hostname": "test-pc", "platform": "Linux", "connector_version": "0.1.0"}
EMAIL = "trader@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator:
    with start_live_server(tmp_path_factory.mktemp("veracity")) as live:
        live.create_user(EMAIL)
        yield live


def heartbeat_body() -> dict:
    return {"connector_version": "0.1.0", "uptime_s": 5, "last_snapshot_at": None,
            "gateway": {"state": "ok", "message": "Logged in.", "port": 5000}}


def snapshot_body() -> dict:
    return {"snapshot_id": str(uuid.uuid4()), "taken_at": datetime.now(UTC).isoformat(),
            "accounts": [{"account_id": "U1", "base_currency": "USD",
                          "net_liquidation": "1000.10", "cash": "10.01",
                          "positions": [], "stop_orders": []}]}


def test_exchange_heartbeat_and_idempotent_snapshot(server):
    client = VeracityClient(server.base_url)
    pairing = client.exchange(server.issue_token(EMAIL), DEVICE)
    assert pairing.connector_key.startswith("vck_")
    assert "vck_" not in repr(pairing)
    assert pairing.schedule.heartbeat_interval_s == 60
    assert pairing.schedule.snapshot_interval_s == 120
    schedule = client.heartbeat(pairing.connector_key, heartbeat_body())
    assert schedule.snapshot_interval_s == 120
    body = snapshot_body()
    assert client.send_snapshot(pairing.connector_key, body) is False
    assert client.send_snapshot(pairing.connector_key, json.dumps(body)) is True


def test_used_and_unknown_tokens_are_refused_with_their_code(server):
    client = VeracityClient(server.base_url)
    token = server.issue_token(EMAIL)
    client.exchange(token, DEVICE)
    with pytest.raises(PairingRejected) as used:
        client.exchange(token, DEVICE)
    assert used.value.code == "token_used"
    with pytest.raises(PairingRejected) as unknown:
        client.exchange("vct_" + "x" * 40, DEVICE)
    assert unknown.value.code == "token_invalid"


def test_bad_key_is_key_revoked_and_not_retried(server):
    client = VeracityClient(server.base_url)
    with pytest.raises(KeyRevoked):
        client.heartbeat("vck_" + "n" * 43, heartbeat_body())
    assert client.request_count == 1


def test_invalid_snapshot_is_rejected_not_retried(server):
    _, key = server.pair(EMAIL)
    client = VeracityClient(server.base_url)
    body = snapshot_body()
    body["accounts"][0]["positions"] = [{"conid": "not-a-number", "quantity": "1"}]
    with pytest.raises(RequestRejected) as rejected:
        client.send_snapshot(key, body)
    assert rejected.value.status == 400 and rejected.value.code == "invalid_request"
    assert client.request_count == 1


def test_unreachable_server_is_retried_then_unavailable():
    client = VeracityClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff_s=0.01)
    with pytest.raises(VeracityUnavailable):
        client.heartbeat("vck_x", heartbeat_body())
    assert client.request_count == 3


@pytest.mark.parametrize(("url", "ok"), [
    ("https://veracity.example.com/", True), ("http://127.0.0.1:8000", True),
    ("http://localhost", True), ("http://veracity.example.com", False),
    ("veracity.example.com", False), ("https://v.example.com/?next=x", False),
])
def test_https_required_except_loopback(url, ok):
    if ok:
        assert validate_veracity_url(url).startswith("http")
    else:
        with pytest.raises(VeracityConfigurationError):
            validate_veracity_url(url)


class ScriptedServer:
    """A loopback HTTP server answering a fixed sequence of (status, headers, body)."""

    def __init__(self, answers: list[tuple[int, dict, dict]]) -> None:
        self.answers = list(answers)
        self.requests: list[str] = []
        self.bodies: list[dict] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                scripted.requests.append(self.path)
                scripted.bodies.append(json.loads(body or b"{}"))
                status, headers, body = scripted.answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ERROR = {"error": {"code": "unavailable", "message": "try later"}}
OK = {"server_time": "x", "heartbeat_interval_s": 30, "snapshot_interval_s": 90,
      "latest_version": "0.2.0"}


def test_5xx_is_retried_with_backoff_then_succeeds():
    with ScriptedServer([(503, {}, ERROR), (502, {}, ERROR), (200, {}, OK)]) as scripted:
        schedule = VeracityClient(scripted.url, backoff_s=0.01).heartbeat("k", heartbeat_body())
    assert len(scripted.requests) == 3
    assert (schedule.heartbeat_interval_s, schedule.snapshot_interval_s) == (30, 90)


def test_5xx_on_exchange_is_retried_with_the_same_idempotency_key():
    paired = {"connector_id": "c-1", "connector_key": "vck_x", "heartbeat_interval_s": 60,
              "snapshot_interval_s": 120, "account_id": "acct-1"}
    with ScriptedServer([(503, {}, ERROR), (201, {}, paired)]) as scripted:
        pairing = VeracityClient(scripted.url, backoff_s=0.01).exchange(
            "vct_x", DEVICE, "attempt-0123456789abcdef")
    assert len(scripted.requests) == 2  # safe: a repeat gets the same connector
    assert {body["idempotency_key"] for body in scripted.bodies} == {"attempt-0123456789abcdef"}
    assert pairing.account_id == "acct-1"


def test_429_carries_retry_after():
    limited = {"error": {"code": "rate_limited", "message": "slow down"}}
    with ScriptedServer([(429, {"Retry-After": "42"}, limited)]) as scripted, \
            pytest.raises(VeracityRateLimited) as raised:
        VeracityClient(scripted.url).send_snapshot("k", snapshot_body())
    assert raised.value.retry_after_s == 42
    assert len(scripted.requests) == 1


def test_exchange_is_retried_when_the_connection_was_never_made():
    client = VeracityClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff_s=0.01)
    with pytest.raises(VeracityUnavailable):
        client.exchange("vct_x", DEVICE)
    assert client.request_count == 3  # refused connections: the token was never sent


def test_503_waits_as_retry_after_says_but_not_longer_than_a_quick_retry():
    with ScriptedServer([(503, {"Retry-After": "1"}, ERROR), (200, {}, OK)]) as scripted:
        VeracityClient(scripted.url, backoff_s=0.01).heartbeat("k", heartbeat_body())
    assert len(scripted.requests) == 2
    with ScriptedServer([(503, {"Retry-After": "3600"}, ERROR)]) as scripted, \
            pytest.raises(VeracityUnavailable, match="3600 s"):
        VeracityClient(scripted.url, backoff_s=0.01).heartbeat("k", heartbeat_body())
    assert len(scripted.requests) == 1
