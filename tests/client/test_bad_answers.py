"""What answers at Veracity's address when it is not Veracity: a proxy's or captive portal's
401/407 page, JSON of another shape, redirects, a 2xx that is not JSON, an answer cut off —
against a small real HTTP server on loopback. Only the contract's 401 `invalid_key` revokes;
everything else keeps the key and the outbox and says what answered."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.client.engine_kit import (
    CLOCK_START,
    SMALL_BOOK,
    ManualClock,
    make_engine,
    new_user,
    serve_book,
)
from tests.client.test_veracity_api import heartbeat_body, snapshot_body
from veracity_connector.credentials import FileStore
from veracity_connector.engine import SyncOutcome
from veracity_connector.outbox import SNAPSHOT
from veracity_connector.state import ConnectorState
from veracity_connector.veracity_api import (
    KeyRevoked,
    RequestRejected,
    VeracityAnswerLost,
    VeracityClient,
    VeracityRedirected,
    VeracityUnavailable,
)

KEY = "vck_" + "k" * 43
PROXY_PAGE = (b"<html><head><title>401 Authorization Required</title></head><body><h1>"
              b"Authorization Required</h1><p>Sign in to the hotel network first.</p></body>"
              b"</html>")


class Answer:
    """One scripted answer: status, headers, body; `cut` stops half-way through the body."""

    def __init__(self, status: int, body: bytes | dict = b"", headers: dict | None = None,
                 *, cut: bool = False) -> None:
        self.status, self.headers, self.cut = status, headers or {}, cut
        self.body = json.dumps(body).encode() if isinstance(body, dict) else body
        if isinstance(body, dict):
            self.headers.setdefault("Content-Type", "application/json")


class BadServer:
    """A loopback HTTP server that answers every request with `answer` (or the next of many)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.paths: list[str] = []
        bad = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                bad.paths.append(self.path)
                answer = bad.answers.pop(0) if len(bad.answers) > 1 else bad.answers[0]
                self.send_response(answer.status)
                for name, value in {"Server": "squid/5.7", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.cut:
                    self.wfile.write(answer.body[:len(answer.body) // 2])
                    self.wfile.flush()
                    # Reset, not a clean close: the peer sees ECONNRESET mid-body.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    return
                self.wfile.write(answer.body)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> BadServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


OTHER_ORIGIN = "https://login.hotel-wifi.example/portal?next=veracity"
NOT_VERACITY = [
    pytest.param(Answer(401, PROXY_PAGE, {"Content-Type": "text/html"}), VeracityUnavailable,
                 ["HTTP 401", "squid/5.7", "Authorization Required"], id="401-proxy-html"),
    pytest.param(Answer(401, {"message": "Unauthorized", "statusCode": 401}),
                 VeracityUnavailable, ["HTTP 401", "Unauthorized"], id="401-json-other-shape"),
    pytest.param(Answer(401, {"error": {"code": "unauthorized", "detail": "no"}}),
                 VeracityUnavailable, ["HTTP 401"], id="401-json-error-without-message"),
    pytest.param(Answer(407, b"Proxy Authentication Required",
                        {"Proxy-Authenticate": 'Basic realm="corp"'}),
                 VeracityUnavailable, ["407"], id="407"),
    pytest.param(Answer(403, b"<html><body>Access denied by Zscaler</body></html>"),
                 VeracityUnavailable, ["HTTP 403", "Access denied by Zscaler"],
                 id="403-interception-page"),
    pytest.param(Answer(302, b"", {"Location": OTHER_ORIGIN}), VeracityRedirected,
                 [f"a redirect to {OTHER_ORIGIN}", "check the Veracity address in Settings"],
                 id="302-other-origin"),
    pytest.param(Answer(301, b"", {"Location": "/v2/api/v1/connector/heartbeat"}),
                 VeracityRedirected, ["a redirect to /v2/api/v1/connector/heartbeat"],
                 id="301-same-origin"),
    pytest.param(Answer(200, b"<html>Welcome to the hotel network</html>",
                        {"Content-Type": "text/html"}),
                 VeracityUnavailable, ["HTTP 200", "Welcome to the hotel network"],
                 id="200-not-json"),
]


@pytest.mark.parametrize(("answer", "error_class", "words"), NOT_VERACITY)
def test_an_answer_that_is_not_veracitys_is_unreachable_with_what_answered(answer, error_class,
                                                                           words):
    with BadServer(answer) as bad:
        client = VeracityClient(bad.url, retries=0)
        with pytest.raises(error_class) as raised:
            client.heartbeat(KEY, heartbeat_body())
    assert not isinstance(raised.value, KeyRevoked)
    for word in words:
        assert word in raised.value.message
    assert KEY not in raised.value.message
    assert len(bad.paths) == 1  # the redirect was not followed


def test_only_the_contracts_invalid_key_revokes():
    refused = {"error": {"code": "invalid_key", "message": "The connector key is revoked."}}
    with BadServer(Answer(401, refused)) as bad, pytest.raises(KeyRevoked):
        VeracityClient(bad.url, retries=0).heartbeat(KEY, heartbeat_body())


@pytest.mark.parametrize("status", [413, 422])
def test_a_refusal_in_the_contracts_words_is_request_rejected(status):
    refusal = {"error": {"code": "payload_too_large" if status == 413 else "unprocessable",
                         "message": "The snapshot is too large."}}
    with BadServer(Answer(status, refusal)) as bad, pytest.raises(RequestRejected) as raised:
        VeracityClient(bad.url, retries=0).send_snapshot(KEY, snapshot_body())
    assert raised.value.status == status
    assert raised.value.message == "The snapshot is too large."


def test_an_answer_cut_off_half_way_is_answer_lost():
    paired = {"connector_id": "c-1", "connector_key": "vck_" + "x" * 43,
              "heartbeat_interval_s": 60, "snapshot_interval_s": 120, "account_id": "a-1"}
    with BadServer(Answer(201, paired, cut=True)) as bad, pytest.raises(VeracityAnswerLost):
        VeracityClient(bad.url, retries=0).exchange("vct_" + "t" * 32, {
            "hostname": "pc", "platform": "Linux", "connector_version": "1.0"})


@pytest.fixture
def small_book(simulator):
    return serve_book(simulator, SMALL_BOOK)


@pytest.fixture
def paired_engine(small_book, server, folders) -> Iterator:
    """An engine paired with the live server, then pointed at `BadServer`s by the test."""
    engine = make_engine(small_book, server, folders, ManualClock(CLOCK_START))
    assert engine.pair(server.issue_token(new_user(server))).ok
    yield engine
    engine.stop()


@pytest.mark.parametrize(("answer", "error_class", "words"), NOT_VERACITY)
def test_the_engine_keeps_key_and_outbox_and_shows_what_answered(small_book, folders, answer,
                                                                 error_class, words):
    store = FileStore(folders.data_dir / "connector-key")
    store.set(KEY)
    with BadServer(answer) as bad:
        engine = make_engine(small_book, bad, folders, ManualClock(CLOCK_START))
        engine.veracity.retries = 0
        result = engine.run_once()
        engine.stop()
    assert result.outcome is SyncOutcome.VERACITY_UNREACHABLE, result
    assert store.get() == KEY
    assert engine.outbox.count(SNAPSHOT) == 1  # (and the year of gateway history)
    status = engine.status
    assert status.state is ConnectorState.VERACITY_UNREACHABLE
    assert words[0] in status.message
