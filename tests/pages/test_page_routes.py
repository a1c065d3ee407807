"""The page routes through the real app (Flask test client, SQLite and PostgreSQL): sign-in
redirects, security headers, CSRF token in a meta tag only, fragments, escaping, settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.pages.helpers import two_currency_snapshot
from tests.support.server_fixtures import (
    create_user,
    issue_token,
    login,
    pair,
    snapshot_body,
)
from veracity_server.pages.views import parse_poll_interval

EMAIL = "page@example.com"


@pytest.fixture
def signed_in(app, client):
    """A user signed in on `client`; returns the session's CSRF token."""
    create_user(app, EMAIL)
    return login(client, EMAIL)


def test_profile_page_sends_a_stranger_to_sign_in(client):
    response = client.get("/profile/ibkr")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile/ibkr"


def test_sign_in_page_has_the_form_and_security_headers(client):
    response = client.get("/login?next=/profile/ibkr")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="login-form"' in html and 'type="password"' in html
    assert 'method="post"' in html  # a password can never end up in a URL
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in html  # every script is an external file


def test_sign_in_page_ignores_foreign_next_targets(client):
    html = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    assert 'data-next="/profile/ibkr"' in html


def test_signed_in_person_skips_the_sign_in_page(client, signed_in):
    response = client.get("/login?next=/profile/ibkr")
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile/ibkr"


def test_form_posted_without_script_explains_and_keeps_nothing(client):
    response = client.post("/login", data={"email": EMAIL, "password": "secret-password"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Signing in needs JavaScript" in html
    assert "secret-password" not in html


def test_profile_page_carries_the_csrf_token_in_a_meta_tag_only(client, signed_in):
    response = client.get("/profile/ibkr")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<meta name="csrf-token" content="{signed_in}">' in html
    assert html.count(signed_in) == 1
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers
    for url in re.findall(r'(?:href|src|action|data-[a-z-]+-url)="([^"]*)"', html):
        assert signed_in not in url and "vct_" not in url and "vck_" not in url


def test_fragments_need_a_session(client):
    for path in ("/profile/ibkr/fragments/connectors", "/profile/ibkr/fragments/portfolio"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "not_authenticated"


def test_fragments_render_connectors_and_portfolio_with_risk(app, client, signed_in):
    _, key = pair(app.test_client(), issue_token(app, EMAIL), hostname="DESK-1")
    body = snapshot_body(positions=3, stop_orders=2)
    sent = app.test_client().post("/api/v1/connector/snapshots", json=body,
                                  headers={"Authorization": f"Bearer {key}"})
    assert sent.status_code == 201
    heartbeat = app.test_client().post("/api/v1/connector/heartbeat", json={
        "connector_version": "1.0.0", "uptime_s": 3, "last_snapshot_at": None,
        "gateway": {"state": "unauthenticated", "message": None, "port": 5002}},
        headers={"Authorization": f"Bearer {key}"})
    assert heartbeat.status_code == 200

    status = client.get("/profile/ibkr/fragments/connectors").get_data(as_text=True)
    assert "DESK-1" in status and "Online" in status
    assert "Gateway needs login — open https://localhost:5002 on that machine" in status
    assert re.search(r'<details id="trouble-gateway-login" class="trouble in-context"\s+open',
                     status)

    html = client.get("/profile/ibkr/fragments/portfolio").get_data(as_text=True)
    account = body["accounts"][0]
    assert f'data-account-id="{account["account_id"]}"' in html
    assert html.count("<tr data-conid=") == 3
    # SYM0 and SYM1 have SELL stops at 170.05 (price 187.12): 100 x 17.07 and 101 x 17.07.
    assert "1,707.00 USD" in html and "1,724.07 USD" in html
    assert "No stop" in html  # SYM2 has none
    assert html.count("<tr data-order-id=") == 2
    assert 'role="img"' in html and "<desc" in html  # the chart and its text alternative


def test_hostile_text_from_a_connector_is_escaped(app, client, signed_in):
    pair(app.test_client(), issue_token(app, EMAIL), hostname="<script>alert(1)</script>")
    html = client.get("/profile/ibkr").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_static_assets_are_served_by_us(client):
    for name in ("app.css", "page_common.js", "profile.js", "login.js", "favicon.svg"):
        response = client.get(f"/assets/{name}")
        assert response.status_code == 200, name
        assert "no-store" not in response.headers.get("Cache-Control", "")
        response.close()


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "nan", "4000"])
def test_bad_poll_interval_is_refused(raw):
    with pytest.raises(ValueError, match="VERACITY_PAGE_POLL_INTERVAL_S"):
        parse_poll_interval(raw)


def test_poll_interval_reaches_the_page(make_app):
    app = make_app(VERACITY_PAGE_POLL_INTERVAL_S="2.5")
    client = app.test_client()
    create_user(app, EMAIL)
    login(client, EMAIL)
    assert 'data-poll-interval-ms="2500"' in client.get("/profile/ibkr").get_data(as_text=True)


def test_bad_poll_interval_stops_the_app_from_starting(make_app):
    with pytest.raises(ValueError, match="VERACITY_PAGE_POLL_INTERVAL_S"):
        make_app(VERACITY_PAGE_POLL_INTERVAL_S="soon")


def test_unchanged_fragment_answers_304_and_matches_the_page_version(client, signed_in):
    page = client.get("/profile/ibkr").get_data(as_text=True)
    version = re.search(r'id="status-region"[^>]*data-version="([0-9a-f]+)"', page).group(1)
    fresh = client.get("/profile/ibkr/fragments/connectors")
    assert fresh.status_code == 200 and fresh.headers["ETag"] == f'"{version}"'
    unchanged = client.get("/profile/ibkr/fragments/connectors",
                           headers={"If-None-Match": f'"{version}"'})
    assert unchanged.status_code == 304 and unchanged.get_data() == b""
    stale = client.get("/profile/ibkr/fragments/connectors",
                       headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200 and "No connector is paired yet" in stale.get_data(
        as_text=True)


def test_portfolio_fragment_is_304_until_a_snapshot_arrives(app, client, signed_in):
    _, key = pair(app.test_client(), issue_token(app, EMAIL))
    page = client.get("/profile/ibkr").get_data(as_text=True)
    version = re.search(r'id="portfolio-region"[^>]*data-version="([0-9a-z]+)"', page).group(1)
    unchanged = client.get("/profile/ibkr/fragments/portfolio",
                           headers={"If-None-Match": f'"{version}"'})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == f'"{version}"'
    sent = app.test_client().post("/api/v1/connector/snapshots", json=snapshot_body(),
                                  headers={"Authorization": f"Bearer {key}"})
    assert sent.status_code == 201
    changed = client.get("/profile/ibkr/fragments/portfolio",
                         headers={"If-None-Match": f'"{version}"'})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != f'"{version}"'
    assert "SYM0" in changed.get_data(as_text=True)


def test_portfolio_api_carries_risk_for_every_position(app, client, signed_in):
    _, key = pair(app.test_client(), issue_token(app, EMAIL))
    sent = app.test_client().post(
        "/api/v1/connector/snapshots", json=two_currency_snapshot(datetime.now(UTC)),
        headers={"Authorization": f"Bearer {key}"})
    assert sent.status_code == 201
    answer = client.get("/api/v1/profile/ibkr/portfolio").get_json()
    accounts = {account["account_id"]: account for account in answer["accounts"]}
    usd = {position["symbol"]: position["risk"] for position in accounts["U1234567"]["positions"]}
    assert usd["AAPL"]["amount_at_risk"] == "1707.00"  # 100 x (187.12 - 170.05)
    assert usd["NVDA"]["amount_at_risk"] == "500.00"  # short 50, BUY stop 130 above 120
    assert usd["NVDA"]["distance_percent"] == "8.33"
    option = usd["AAPL 241220C00200000"]
    assert (option["multiplier"], option["stop_price"], option["amount_at_risk"]) == (
        "100", "3.0000", "100.00")  # trailing 0.50 below 3.50, 2 contracts x 100
    assert usd["SPY"]["has_stop"] is False and usd["SPY"]["amount_at_risk"] is None
    assert accounts["U1234567"]["risk_summary"] == {
        "positions_with_stop": 3, "positions_without_stop": 1,
        "amount_at_risk_by_currency": {"USD": "2307.00"}}
    assert accounts["DU7654321"]["risk_summary"]["amount_at_risk_by_currency"] == {
        "EUR": "360.00"}
