"""Cache-Control: no-store on every answer with a token, key, CSRF token, session or portfolio
data, and the security headers on every answer — checked for EVERY route of the app.

The table below must name each (method, rule) of `app.url_map`: a new route fails
`test_every_route_is_in_the_table` until someone decides here whether it is private.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body
from veracity_server.response_headers import SHAREABLE_ENDPOINTS

DEVICE = {"hostname": "pc", "platform": "Windows-11", "connector_version": "1.0.0"}
HEARTBEAT = {"connector_version": "1.0.0", "uptime_s": 5, "last_snapshot_at": None,
             "gateway": {"state": "ok", "message": None, "port": 5000}}

DAILY_HISTORY = {"source": "gateway", "accounts": [{"account_id": "U1234567",
                                                    "base_currency": "USD", "days": [
                                                        {"report_date": "2026-11-02",
                                                         "nav": "1000.50"}]}]}

ALERT_SETTINGS = {"email_enabled": False, "email_address": None, "webhook_enabled": False,
                  "webhook_url": None, "silent_after_s": 900, "login_after_s": 300,
                  "competing_after_s": 1800, "update_alerts": True, "schedule_kind": "nyse",
                  "schedule_days": [0, 1, 2, 3, 4], "schedule_start": "09:30",
                  "schedule_end": "16:00", "schedule_timezone": "America/New_York",
                  "snoozed_until": None}


@dataclass(frozen=True)
class Route:
    """How to call one route so that it answers with what it is for."""

    method: str
    rule: str
    path: str
    status: int
    private: bool
    auth: str = "session"  # "session", "key", "token", "none"
    body: object = None


ROUTES = [
    Route("POST", "/api/v1/session", "/api/v1/session", 200, True, "login"),
    Route("GET", "/api/v1/session", "/api/v1/session", 200, True),
    Route("DELETE", "/api/v1/session", "/api/v1/session", 204, True),
    Route("POST", "/api/v1/session/log-out-others", "/api/v1/session/log-out-others", 200, True),
    Route("POST", "/api/v1/profile/ibkr/tokens", "/api/v1/profile/ibkr/tokens", 201, True),
    Route("POST", "/api/v1/connector/exchange", "/api/v1/connector/exchange", 201, True,
          "token"),
    Route("GET", "/api/v1/profile/ibkr/connectors", "/api/v1/profile/ibkr/connectors", 200,
          True),
    Route("POST", "/api/v1/profile/ibkr/connectors/<connector_id>/revoke",
          "/api/v1/profile/ibkr/connectors/{connector}/revoke", 200, True),
    Route("DELETE", "/api/v1/profile/ibkr/connectors/<connector_id>",
          "/api/v1/profile/ibkr/connectors/{connector}", 200, True, "session", {"confirm": True}),
    Route("POST", "/api/v1/connector/heartbeat", "/api/v1/connector/heartbeat", 200, True,
          "key", HEARTBEAT),
    Route("POST", "/api/v1/connector/snapshots", "/api/v1/connector/snapshots", 201, True,
          "key", "snapshot"),
    Route("POST", "/api/v1/connector/history/daily", "/api/v1/connector/history/daily", 200,
          True, "key", DAILY_HISTORY),
    Route("GET", "/api/v1/profile/ibkr/portfolio", "/api/v1/profile/ibkr/portfolio", 200, True),
    Route("GET", "/api/v1/profile/ibkr/connectors/<connector_id>/events",
          "/api/v1/profile/ibkr/connectors/{connector}/events", 200, True),
    Route("GET", "/profile/ibkr/fragments/events/<connector_id>",
          "/profile/ibkr/fragments/events/{connector}", 200, True),
    Route("GET", "/api/v1/profile/alerts", "/api/v1/profile/alerts", 200, True),
    Route("PUT", "/api/v1/profile/alerts", "/api/v1/profile/alerts", 200, True, "session",
          ALERT_SETTINGS),
    Route("POST", "/api/v1/profile/alerts/webhook-secret",
          "/api/v1/profile/alerts/webhook-secret", 201, True),
    # 409 channel_not_ready: the world's user has no webhook set up (still never stored).
    Route("POST", "/api/v1/profile/alerts/test", "/api/v1/profile/alerts/test", 409, True,
          "session", {"channel": "webhook"}),
    Route("GET", "/login", "/login", 200, True, "none"),
    Route("POST", "/login", "/login", 400, True, "none"),
    Route("GET", "/profile/ibkr", "/profile/ibkr", 200, True),
    Route("GET", "/profile/ibkr/fragments/connectors", "/profile/ibkr/fragments/connectors",
          200, True),
    Route("GET", "/profile/ibkr/fragments/portfolio", "/profile/ibkr/fragments/portfolio", 200,
          True),
    # Public and the same for everyone: may be cached.
    Route("GET", "/healthz", "/healthz", 200, False, "none"),
    Route("GET", "/readyz", "/readyz", 200, False, "none"),
    Route("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", 200, False, "none"),
    Route("GET", "/assets/<path:filename>", "/assets/app.css", 200, False, "none"),
    Route("GET", "/static/<path:filename>", "/static/none.css", 404, False, "none"),
    Route("GET", "/api/v1/downloads/ibkr-connector/windows",
          "/api/v1/downloads/ibkr-connector/windows", 200, False, "none"),
    Route("GET", "/api/v1/downloads/ibkr-connector/windows/installer",
          "/api/v1/downloads/ibkr-connector/windows/installer", 200, False, "none"),
    Route("GET", "/api/v1/downloads/ibkr-connector/windows/updates/releases.<channel>.json",
          "/api/v1/downloads/ibkr-connector/windows/updates/releases.win.json", 200, False,
          "none"),
    Route("GET", "/api/v1/downloads/ibkr-connector/windows/updates/<name>",
          "/api/v1/downloads/ibkr-connector/windows/updates/app-1.2.0-full.nupkg", 200, False,
          "none"),
]


@pytest.fixture
def configured_app(make_app, tmp_path: Path) -> Flask:
    """The app with a local release and update feed, so the download routes answer 200."""
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "releases.win.json").write_text(
        '{"Assets": [{"FileName": "app-1.2.0-full.nupkg", "Type": "Full", "Version": "1.2.0"}]}')
    (feed / "app-1.2.0-full.nupkg").write_bytes(b"PK" + bytes(64))
    (tmp_path / "setup.exe").write_bytes(b"MZ" + bytes(64))
    return make_app(IBKR_CONNECTOR_WINDOWS_FILE=str(tmp_path / "setup.exe"),
                    IBKR_CONNECTOR_WINDOWS_VERSION="1.2.0",
                    IBKR_CONNECTOR_WINDOWS_FEED=str(feed))


@pytest.fixture
def world(configured_app: Flask) -> World:
    return build_world(configured_app, configured_app.test_client())


def test_every_route_is_in_the_table(app: Flask) -> None:
    served = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == {(route.method, route.rule) for route in ROUTES}


def test_only_public_routes_are_shareable(app: Flask) -> None:
    endpoints = {(method, rule.rule): rule.endpoint for rule in app.url_map.iter_rules()
                 for method in rule.methods}
    for route in ROUTES:
        assert (endpoints[(route.method, route.rule)] in SHAREABLE_ENDPOINTS) == \
            (not route.private), route.rule


def _call(route: Route, world: World) -> tuple[FlaskClient, dict[str, str], object]:
    client: FlaskClient = world.client
    headers = {"X-CSRF-Token": world.csrf}
    body = route.body
    if route.auth in ("none", "login", "token", "key"):
        client = world.app.test_client()
    if route.auth == "login":
        body = {"email": "trader@example.com", "password": "correct horse battery staple"}
    elif route.auth == "token":
        body = {"token": world.unused_token, "device": DEVICE}
    elif route.auth == "key":
        headers = world.key_headers()
    if body == "snapshot":
        body = snapshot_body()
    return client, headers, body


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.rule}" for r in ROUTES])
def test_private_answers_are_never_stored(route: Route, world: World) -> None:
    client, headers, body = _call(route, world)
    path = route.path.format(connector=world.connector_id)
    response = client.open(path, method=route.method, json=body, headers=headers)

    assert response.status_code == route.status, response.get_data(as_text=True)[:300]
    cache_control = response.headers.get("Cache-Control", "")
    if route.private:
        assert cache_control == "no-store"
    else:
        assert "no-store" not in cache_control or route.rule.endswith("/installer")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/profile/ibkr/portfolio"),  # 401: refusals are private too
    ("GET", "/api/v1/nothing-here"),  # 404 (no endpoint)
    ("POST", "/api/v1/connector/snapshots"),  # 401 invalid_key
])
def test_errors_are_not_stored_either(method: str, path: str, client: FlaskClient) -> None:
    response = client.open(path, method=method)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
