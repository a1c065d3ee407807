"""Hostile structure never answers 5xx: every JSON endpoint x every case below answers a 4xx with
the contract's error body and stores nothing (beside tests/server/test_bad_input.py, which checks
each endpoint's own fields). SQLite and PostgreSQL; the oversized-header and slow cases also on
gunicorn, which reads the headers before the app does."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.server.helpers import World, build_world, dump_database, settle_key
from tests.support.server_fixtures import LiveServer, snapshot_body

DEPTH = 100_000  # far past Python's recursion limit and pydantic's


@dataclass(frozen=True)
class Hostile:
    """One hostile body (or header) and the statuses it may get."""

    name: str
    raw: bytes
    content_type: str | None = "application/json"
    statuses: tuple[int, ...] = (400,)
    headers: tuple[tuple[str, str], ...] = ()


def _number_in_every_field(number: bytes) -> bytes:
    """A snapshot-shaped body with `number` wherever a value goes (a number where text is due)."""
    body = json.dumps(snapshot_body(positions=1, stop_orders=1))
    for key in ("quantity", "market_price", "net_liquidation", "conid", "uptime_s"):
        body = body.replace(f'"{key}": ', f'"{key}": {number.decode()}, "_{key}": ')
    return body.encode()


HOSTILE = [
    Hostile("nested arrays 100k deep", b"[" * DEPTH + b"]" * DEPTH),
    Hostile("nested objects 100k deep", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH),
    Hostile("nesting 100k deep inside a field", b'{"token": ' + b"[" * DEPTH + b"]" * DEPTH
            + b"}"),
    Hostile("unclosed nesting", b"[" * DEPTH),
    Hostile("exponent 1e999999", b'{"uptime_s": 1e999999, "token": 1e999999}'),
    Hostile("negative exponent 1e-999999", b'{"uptime_s": 1e-999999}'),
    Hostile("a 10000-digit integer", b'{"uptime_s": 1' + b"0" * 10_000 + b"}"),
    Hostile("a 4000-digit integer (under Python's limit)", b'{"uptime_s": 1' + b"0" * 4000
            + b"}"),
    Hostile("huge numbers in every field", _number_in_every_field(b"1e400000")),
    Hostile("integers past 64 bits in every field", _number_in_every_field(b"9" * 30)),
    Hostile("NaN", b'{"uptime_s": NaN}'),
    Hostile("Infinity", b'{"uptime_s": Infinity}'),
    Hostile("-Infinity", b'{"uptime_s": -Infinity}'),
    Hostile("negative zero everywhere", _number_in_every_field(b"-0")),
    Hostile("duplicate keys", b'{"token": "vct_a", "token": "vct_b", "device": {}}'),
    Hostile("duplicate keys deep inside", b'{"a": {"b": 1, "b": 2}}'),
    Hostile("not UTF-8", b'{"token": "\xff\xfe\xfa"}'),
    Hostile("UTF-16 with its BOM", '{"token": "x"}'.encode("utf-16")),
    Hostile("UTF-8 BOM", b'\xef\xbb\xbf{"token": "x"}'),
    Hostile("overlong UTF-8 encoding", b'{"token": "\xc0\xaf"}'),
    Hostile("top-level string", b'"just a string"'),
    Hostile("top-level number", b"12345"),
    Hostile("top-level null", b"null"),
    Hostile("top-level true", b"true"),
    Hostile("top-level empty array", b"[]"),
    Hostile("two documents", b'{"a": 1} {"b": 2}'),
    Hostile("trailing garbage", b'{"a": 1}\x00\x00'),
    Hostile("NUL escape", b'{"token": "vct_\\u0000"}'),
    Hostile("lone surrogate", b'{"token": "vct_\\ud800"}'),
    Hostile("100k keys", b"{" + b",".join(b'"k%d": 0' % i for i in range(100_000)) + b"}"),
    Hostile("a million-element array", b'{"accounts": [' + b"0," * 999_999 + b"0]}"),
    Hostile("a 4 MB string", b'{"token": "' + b"x" * (4 * 1024 * 1024) + b'"}',
            statuses=(400, 413)),
    Hostile("over the size limit", b'{"pad": "' + b"x" * (6 * 1024 * 1024) + b'"}',
            statuses=(413,)),
    Hostile("form encoded", b"token=vct_x&device=pc",
            content_type="application/x-www-form-urlencoded", statuses=(400, 415)),
    Hostile("multipart", b"--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nx\r\n--b--",
            content_type="multipart/form-data; boundary=b", statuses=(400, 415)),
    Hostile("text/plain JSON", b'{"token": "vct_x"}', content_type="text/plain",
            statuses=(400, 415)),
    Hostile("XML", b"<token>vct_x</token>", content_type="application/xml", statuses=(400, 415)),
    Hostile("no content type, not JSON", b"\x00\x01\x02", content_type=None),
    Hostile("JSON with a charset it lies about", '{"token": "é"}'.encode("latin-1"),
            content_type="application/json; charset=latin-1"),
    Hostile("a 6 kB X-CSRF-Token and Authorization", b"{}",
            statuses=(400, 401, 403),
            headers=(("X-CSRF-Token", "x" * 6000), ("Authorization", "Bearer " + "A" * 6000))),
    Hostile("a control character in Authorization", b"{}", statuses=(400, 401, 403),
            headers=(("Authorization", "Bearer vck_\x7f\x01"),)),
]

# Every endpoint that reads a JSON body, with how to reach its parser.
ENDPOINTS = {
    "login": ("/api/v1/session", "none"),
    "tokens": ("/api/v1/profile/ibkr/tokens", "session"),
    "exchange": ("/api/v1/connector/exchange", "none"),
    "heartbeat": ("/api/v1/connector/heartbeat", "key"),
    "snapshots": ("/api/v1/connector/snapshots", "key"),
}
# An empty object is a valid body for the token endpoint; a hostile header then only fails auth.
ACCEPTED_ELSEWHERE = {("tokens", "a 6 kB X-CSRF-Token and Authorization"),
                      ("tokens", "a control character in Authorization")}


def test_the_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 20
    assert len({case.name for case in HOSTILE}) == len(HOSTILE)


@pytest.fixture
def world(app, client) -> World:
    return settle_key(build_world(app, client))


def _request_headers(case: Hostile, auth: str, world: World) -> dict[str, str]:
    headers: dict[str, str] = {}
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    if auth == "session":
        headers["X-CSRF-Token"] = world.csrf
    elif auth == "key":
        headers["Authorization"] = f"Bearer {world.key}"
    headers.update(dict(case.headers))
    return headers


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_hostile_structure_is_a_clean_4xx_and_stores_nothing(case: Hostile, endpoint: str,
                                                             world: World) -> None:
    path, auth = ENDPOINTS[endpoint]
    client = world.client if auth == "session" else world.app.test_client()
    before = dump_database(world.app)

    response = client.post(path, data=case.raw, headers=_request_headers(case, auth, world))

    if (endpoint, case.name) in ACCEPTED_ELSEWHERE:
        assert response.status_code < 500
        return
    assert response.status_code in case.statuses, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body: Any = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"] and len(body["error"]["message"]) < 2000
    assert dump_database(world.app) == before, "a refused request changed the database"


# One valid body per endpoint and a key to repeat in it (heartbeats and snapshots are validated
# straight from the bytes: the repeat must be refused on that path too).
VALID_BODIES = {
    "login": ('{"email": "trader@example.com", "password": "correct horse battery staple"}',
              '"email"'),
    "exchange": ('{"token": "vct_x", "device": {"hostname": "pc", "platform": "Windows-11", '
                 '"connector_version": "1.0.0"}}', '"platform"'),
    "heartbeat": ('{"connector_version": "1.0.0", "gateway": {"state": "ok"}}',
                  '"connector_version"'),
    "snapshots": ('{"snapshot_id": "3f1c2b7e-5d7a-4c1e-9a8b-0c2d4e6f8a10", '
                  '"taken_at": "2026-12-06T10:00:00Z", "accounts": []}', '"accounts"'),
}


@pytest.mark.parametrize("endpoint", VALID_BODIES)
def test_a_duplicate_key_in_an_otherwise_valid_body_is_refused(endpoint: str,
                                                               world: World) -> None:
    body, key = VALID_BODIES[endpoint]
    # The same key again with another value, just after the first.
    duplicated = body.replace(f"{key}: ", f"{key}: null, {key}: ", 1)
    assert duplicated != body
    path, auth = ENDPOINTS[endpoint]
    headers = {"Content-Type": "application/json"}
    if auth == "key":
        headers["Authorization"] = f"Bearer {world.key}"
    before = dump_database(world.app)
    response = world.app.test_client().post(path, data=duplicated, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "appears twice" in response.get_json()["error"]["message"]
    assert dump_database(world.app) == before


@pytest.mark.parametrize("spacing", [" ", "\t", "\n", " \r\n ", "  "])
@pytest.mark.parametrize("endpoint", ["heartbeat", "snapshots"])
def test_a_duplicate_key_is_refused_however_its_colon_is_spaced(endpoint: str, spacing: str,
                                                                world: World) -> None:
    # The fast path counts `":` to rule repeats out; whitespace before a colon must send the
    # body to the exact check instead of hiding a key from the count.
    body, key = VALID_BODIES[endpoint]
    duplicated = body.replace(f"{key}: ", f"{key}{spacing}: null, {key}: ", 1)
    path, _ = ENDPOINTS[endpoint]
    before = dump_database(world.app)
    response = world.app.test_client().post(path, data=duplicated, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {world.key}"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "appears twice" in response.get_json()["error"]["message"]
    assert dump_database(world.app) == before


def _raw_request(server: LiveServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("request_bytes", [
    # Oversized header lines and too many headers: gunicorn refuses them before the app.
    b"POST /api/v1/connector/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    + b"A" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"Content-Length: 2\r\n\r\n{}",
    # A request line far too long.
    b"GET /api/v1/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    # A Content-Length that is not a number, and one that is negative.
    b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n{}",
    b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
    # Chunked with a bogus chunk size.
    b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0"
    b"\r\n\r\n",
], ids=["20 kB header", "200 headers", "10 kB URL", "Content-Length ten",
        "Content-Length -5", "bad chunk size"])
def test_malformed_http_on_gunicorn_is_refused_without_a_5xx(live_server: LiveServer,
                                                           request_bytes: bytes) -> None:
    answer = _raw_request(live_server, request_bytes)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    # The server is still fine afterwards.
    assert requests.get(live_server.url("/healthz"), timeout=10).status_code == 200


def test_deep_nesting_on_gunicorn_is_400_and_the_worker_lives(live_server: LiveServer) -> None:
    for body in (b"[" * DEPTH + b"]" * DEPTH, b'{"a":' * DEPTH + b"1" + b"}" * DEPTH):
        answer = requests.post(live_server.url("/api/v1/session"), data=body, timeout=30,
                               headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    assert requests.get(live_server.url("/healthz"), timeout=10).status_code == 200
