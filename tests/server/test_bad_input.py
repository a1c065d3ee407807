"""Table-driven bad input across every endpoint: a 4xx with the JSON error body, nothing stored."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.helpers import World, build_world, dump_database, settle_key
from tests.support.server_fixtures import snapshot_body

DEVICE = {"hostname": "pc", "platform": "Windows-11", "connector_version": "1.0.0"}
HEARTBEAT = {"connector_version": "1.0.0", "uptime_s": 5, "last_snapshot_at": None,
             "gateway": {"state": "ok", "message": None, "port": 5000}}


def snapshot_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A valid snapshot, then `change` applied to it."""
    body = snapshot_body(positions=2, stop_orders=2)
    change(body)
    return body


def heartbeat_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A valid heartbeat, then `change` applied to it."""
    body = copy.deepcopy(HEARTBEAT)
    change(body)
    return body


@dataclass
class Case:
    """One bad request and the answer it must get."""

    name: str
    method: str
    path: str
    status: int
    code: str
    body: Any = None  # JSON-encoded unless `raw` is set
    raw: bytes | None = None
    content_type: str = "application/json"
    auth: str | None = None  # "key", "revoked", "unknown", "basic" or None
    csrf: str | None = "good"  # "good", "wrong", or None (no header)
    logged_in: bool = True
    mentions: str | None = None  # a text the error message must contain (the field path)
    headers: dict[str, str] = field(default_factory=dict)


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        target = body
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
    return change


EXCHANGE = "/api/v1/connector/exchange"
HEARTBEAT_URL = "/api/v1/connector/heartbeat"
SNAPSHOTS = "/api/v1/connector/snapshots"
TOKENS = "/api/v1/profile/ibkr/tokens"
POSITION = ["accounts", 0, "positions", 0]
ORDER = ["accounts", 0, "stop_orders", 0]

CASES = [
    # exchange
    Case("exchange: empty body", "POST", EXCHANGE, 400, "invalid_json", raw=b""),
    Case("exchange: not JSON", "POST", EXCHANGE, 400, "invalid_json", raw=b"{token: 1"),
    Case("exchange: JSON array", "POST", EXCHANGE, 400, "invalid_request", body=[1, 2]),
    Case("exchange: form encoded", "POST", EXCHANGE, 400, "invalid_json",
         raw=b"token=vct_x", content_type="application/x-www-form-urlencoded"),
    Case("exchange: missing device", "POST", EXCHANGE, 400, "invalid_request",
         body={"token": "vct_x"}, mentions="device"),
    Case("exchange: unknown top-level field", "POST", EXCHANGE, 400, "invalid_request",
         body={"token": "vct_x", "device": DEVICE, "admin": True}, mentions="admin"),
    Case("exchange: unknown device field", "POST", EXCHANGE, 400, "invalid_request",
         body={"token": "vct_x", "device": {**DEVICE, "os": "w"}}, mentions="device.os"),
    Case("exchange: token is a number", "POST", EXCHANGE, 400, "invalid_request",
         body={"token": 12345, "device": DEVICE}, mentions="token"),
    Case("exchange: empty hostname", "POST", EXCHANGE, 400, "invalid_request",
         body={"token": "vct_x", "device": {**DEVICE, "hostname": ""}},
         mentions="device.hostname"),
    Case("exchange: unknown token", "POST", EXCHANGE, 401, "token_invalid",
         body={"token": "vct_doesnotexist", "device": DEVICE}),
    Case("exchange: GET", "GET", EXCHANGE, 405, "method_not_allowed"),
    # heartbeat
    Case("heartbeat: no Authorization", "POST", HEARTBEAT_URL, 401, "invalid_key",
         body=HEARTBEAT),
    Case("heartbeat: Basic auth", "POST", HEARTBEAT_URL, 401, "invalid_key", body=HEARTBEAT,
         auth="basic"),
    Case("heartbeat: unknown key", "POST", HEARTBEAT_URL, 401, "invalid_key", body=HEARTBEAT,
         auth="unknown"),
    Case("heartbeat: revoked key", "POST", HEARTBEAT_URL, 401, "invalid_key", body=HEARTBEAT,
         auth="revoked"),
    Case("heartbeat: revoked key and bad body", "POST", HEARTBEAT_URL, 401, "invalid_key",
         body={"nonsense": 1}, auth="revoked"),
    Case("heartbeat: unknown gateway state", "POST", HEARTBEAT_URL, 400, "invalid_request",
         body=heartbeat_with(_set(["gateway", "state"], "sleepy")), auth="key",
         mentions="gateway.state"),
    Case("heartbeat: port out of range", "POST", HEARTBEAT_URL, 400, "invalid_request",
         body=heartbeat_with(_set(["gateway", "port"], 70000)), auth="key",
         mentions="gateway.port"),
    Case("heartbeat: negative uptime", "POST", HEARTBEAT_URL, 400, "invalid_request",
         body=heartbeat_with(_set(["uptime_s"], -1)), auth="key", mentions="uptime_s"),
    Case("heartbeat: unknown gateway field", "POST", HEARTBEAT_URL, 400, "invalid_request",
         body=heartbeat_with(_set(["gateway", "pid"], 4)), auth="key", mentions="gateway.pid"),
    Case("heartbeat: missing gateway", "POST", HEARTBEAT_URL, 400, "invalid_request",
         body=heartbeat_with(_delete(["gateway"])), auth="key", mentions="gateway"),
    Case("heartbeat: timestamp without zone", "POST", HEARTBEAT_URL, 400, "invalid_request",
         body=heartbeat_with(_set(["last_snapshot_at"], "2026-01-02T03:04:05")), auth="key",
         mentions="last_snapshot_at"),
    Case("heartbeat: year 999 (would sort after 2026 as text)", "POST", HEARTBEAT_URL, 400,
         "invalid_request", body=heartbeat_with(_set(["last_snapshot_at"],
                                                    "0999-12-31T00:00:00Z")),
         auth="key", mentions="last_snapshot_at"),
    Case("heartbeat: time with no UTC equivalent", "POST", HEARTBEAT_URL, 400,
         "invalid_request", body=heartbeat_with(_set(["last_snapshot_at"],
                                                    "0001-01-01T00:00:00+01:00")),
         auth="key", mentions="last_snapshot_at"),
    Case("heartbeat: truncated JSON", "POST", HEARTBEAT_URL, 400, "invalid_json",
         raw=b'{"connector_version": "1.0', auth="key"),
    # snapshots
    Case("snapshot: unknown key", "POST", SNAPSHOTS, 401, "invalid_key",
         body=snapshot_body(), auth="unknown"),
    Case("snapshot: revoked key", "POST", SNAPSHOTS, 401, "invalid_key",
         body=snapshot_body(), auth="revoked"),
    Case("snapshot: id not a UUID", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set(["snapshot_id"], "snap-1")), auth="key", mentions="snapshot_id"),
    Case("snapshot: unknown position field", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "delta"], "0.5")), auth="key",
         mentions="accounts[0].positions[0].delta"),
    Case("snapshot: unknown stop order field", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*ORDER, "parent_id"], 1)), auth="key",
         mentions="accounts[0].stop_orders[0].parent_id"),
    Case("snapshot: unknown account field", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set(["accounts", 0, "margin"], "1")), auth="key",
         mentions="accounts[0].margin"),
    Case("snapshot: quantity not a number", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "quantity"], "abc")), auth="key",
         mentions="accounts[0].positions[0].quantity"),
    Case("snapshot: quantity NaN string", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "quantity"], "NaN")), auth="key",
         mentions="quantity"),
    Case("snapshot: huge exponent", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "market_value"], "1E+999999")), auth="key",
         mentions="market_value"),
    Case("snapshot: thousands of fraction digits", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "market_price"], "0." + "1" * 17000)), auth="key",
         mentions="accounts[0].positions[0].market_price"),
    # Bodies the validator without per-number size checks must never take (raw_body_checks):
    # digits Decimal() reads that are no ASCII digits, underscores, a lower-case exponent.
    Case("snapshot: fifty Arabic-Indic digits", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "market_value"], "\u0661" * 50)), auth="key",
         mentions="market_value"),
    Case("snapshot: fifty Arabic-Indic digits as UTF-8", "POST", SNAPSHOTS, 400,
         "invalid_request", raw=json.dumps(snapshot_with(
             _set([*POSITION, "market_value"], "\u0661" * 50)), ensure_ascii=False),
         auth="key", mentions="market_value"),
    Case("snapshot: fifty digits between underscores", "POST", SNAPSHOTS, 400,
         "invalid_request", body=snapshot_with(_set([*POSITION, "quantity"], "1_" * 49 + "1")),
         auth="key", mentions="quantity"),
    Case("snapshot: huge lower-case exponent", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "market_value"], "1e+999999")), auth="key",
         mentions="market_value"),
    Case("snapshot: huge exponent between spaces", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "market_value"], " 1E+999999 ")), auth="key",
         mentions="market_value"),
    Case("snapshot: forty-five plain digits", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "market_price"], "0." + "1" * 45)), auth="key",
         mentions="market_price"),
    Case("snapshot: taken_at in year 999", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set(["taken_at"], "0999-01-01T00:00:00Z")), auth="key",
         mentions="taken_at"),
    Case("snapshot: taken_at with no UTC equivalent", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set(["taken_at"], "9999-12-31T23:30:00-05:00")), auth="key",
         mentions="taken_at"),
    Case("snapshot: missing quantity", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_delete([*POSITION, "quantity"])), auth="key", mentions="quantity"),
    Case("snapshot: bare NaN literal", "POST", SNAPSHOTS, 400, "invalid_json",
         raw=json.dumps(snapshot_body()).replace('"100000.5000"', "NaN").encode(), auth="key"),
    Case("snapshot: side HOLD", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*ORDER, "side"], "HOLD")), auth="key",
         mentions="accounts[0].stop_orders[0].side"),
    Case("snapshot: taken_at without zone", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set(["taken_at"], "2026-01-02T03:04:05")), auth="key",
         mentions="taken_at"),
    Case("snapshot: taken_at a day ahead", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set(["taken_at"], (datetime.now(UTC) + timedelta(days=1))
                                 .isoformat())), auth="key", mentions="taken_at"),
    Case("snapshot: same account twice", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(lambda body: body["accounts"].append(body["accounts"][0])),
         auth="key", mentions="accounts[1] repeats"),
    Case("snapshot: accounts missing", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_delete(["accounts"])), auth="key", mentions="accounts"),
    Case("snapshot: conid negative", "POST", SNAPSHOTS, 400, "invalid_request",
         body=snapshot_with(_set([*POSITION, "conid"], -5)), auth="key", mentions="conid"),
    Case("snapshot: body over the size limit", "POST", SNAPSHOTS, 413, "payload_too_large",
         raw=b'{"pad": "' + b"x" * (6 * 1024 * 1024) + b'"}', auth="key"),
    # user API
    Case("tokens: not logged in", "POST", TOKENS, 401, "not_authenticated", logged_in=False),
    Case("tokens: no CSRF header", "POST", TOKENS, 403, "csrf_failed", csrf=None),
    Case("tokens: wrong CSRF header", "POST", TOKENS, 403, "csrf_failed", csrf="wrong"),
    Case("tokens: unknown body field", "POST", TOKENS, 400, "invalid_request",
         body={"ttl": 99999}, mentions="ttl"),
    Case("revoke: unknown connector", "POST",
         f"/api/v1/profile/ibkr/connectors/{uuid.uuid4()}/revoke", 404, "not_found"),
    Case("revoke: no CSRF header", "POST", "/api/v1/profile/ibkr/connectors/{connector}/revoke",
         403, "csrf_failed", csrf=None),
    Case("revoke: GET", "GET", "/api/v1/profile/ibkr/connectors/{connector}/revoke", 405,
         "method_not_allowed"),
    Case("connectors: not logged in", "GET", "/api/v1/profile/ibkr/connectors", 401,
         "not_authenticated", logged_in=False),
    Case("portfolio: not logged in", "GET", "/api/v1/profile/ibkr/portfolio", 401,
         "not_authenticated", logged_in=False),
    Case("portfolio: PUT", "PUT", "/api/v1/profile/ibkr/portfolio", 405, "method_not_allowed"),
    Case("login: missing password", "POST", "/api/v1/session", 400, "invalid_request",
         body={"email": "trader@example.com"}, mentions="password", logged_in=False),
    Case("login: wrong password", "POST", "/api/v1/session", 401, "invalid_credentials",
         body={"email": "trader@example.com", "password": "guess-guess"}, logged_in=False),
    Case("login: unknown user", "POST", "/api/v1/session", 401, "invalid_credentials",
         body={"email": "nobody@example.com", "password": "guess-guess"}, logged_in=False),
    Case("login: unknown field", "POST", "/api/v1/session", 400, "invalid_request",
         body={"email": "a@b.c", "password": "x", "remember": True}, mentions="remember",
         logged_in=False),
    Case("logout: no CSRF header", "DELETE", "/api/v1/session", 403, "csrf_failed", csrf=None),
    Case("unknown API URL", "GET", "/api/v1/nothing-here", 404, "not_found"),
    Case("openapi: POST", "POST", "/api/v1/openapi.json", 405, "method_not_allowed"),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> World:
    return settle_key(build_world(app, client))


def _headers(case: Case, world: World) -> dict[str, str]:
    headers = {"Content-Type": case.content_type, **case.headers}
    keys = {"key": world.key, "revoked": world.revoked_key,
            "unknown": "vck_" + "A" * 43}
    if case.auth == "basic":
        headers["Authorization"] = "Basic dXNlcjpwYXNz"
    elif case.auth:
        headers["Authorization"] = f"Bearer {keys[case.auth]}"
    if case.csrf == "good":
        headers["X-CSRF-Token"] = world.csrf
    elif case.csrf == "wrong":
        headers["X-CSRF-Token"] = "not-the-token"
    return headers


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_a_clean_4xx_and_stores_nothing(case: Case, world: World) -> None:
    client = world.client if case.logged_in else world.app.test_client()
    data = case.raw if case.raw is not None else (
        json.dumps(case.body) if case.body is not None else None)
    before = dump_database(world.app)

    response = client.open(case.path.format(connector=world.connector_id), method=case.method,
                           data=data, headers=_headers(case, world))

    assert response.status_code == case.status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == case.code
    assert body["error"]["message"]
    if case.mentions:
        assert case.mentions in body["error"]["message"]
    assert dump_database(world.app) == before, "a rejected request changed the database"
