"""/api/v1/session: login, who-am-I, logout, a hardened cookie, and a login rate limit."""

from __future__ import annotations

from tests.support.server_fixtures import DEFAULT_PASSWORD, create_user

SESSION = "/api/v1/session"


def _set_cookie(response) -> str:
    return next(value for name, value in response.headers if name == "Set-Cookie")


def test_login_returns_the_user_and_a_csrf_token(app, client) -> None:
    create_user(app, "Trader@Example.com")
    response = client.post(SESSION, json={"email": " trader@example.COM ",
                                          "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["email"] == "trader@example.com"
    assert len(body["csrf_token"]) >= 32
    assert client.get(SESSION).get_json() == body


def test_session_cookie_is_httponly_lax_and_secure_off_loopback(app) -> None:
    create_user(app, "a@example.com")
    remote = app.test_client().post(SESSION, base_url="https://veracity.example.com",
                                    json={"email": "a@example.com", "password": DEFAULT_PASSWORD})
    cookie = _set_cookie(remote)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    local = app.test_client().post(SESSION, base_url="http://127.0.0.1:8000",
                                   json={"email": "a@example.com", "password": DEFAULT_PASSWORD})
    assert "Secure" not in _set_cookie(local)
    assert "HttpOnly" in _set_cookie(local)


def test_cookie_secure_can_be_forced_on(make_app) -> None:
    app = make_app(VERACITY_COOKIE_SECURE="true")
    create_user(app, "a@example.com")
    local = app.test_client().post(SESSION, base_url="http://localhost",
                                   json={"email": "a@example.com", "password": DEFAULT_PASSWORD})
    assert "Secure" in _set_cookie(local)


def test_logout_needs_csrf_and_ends_the_session(app, client) -> None:
    create_user(app, "a@example.com")
    csrf = client.post(SESSION, json={"email": "a@example.com",
                                      "password": DEFAULT_PASSWORD}).get_json()["csrf_token"]
    assert client.delete(SESSION).status_code == 403
    assert client.delete(SESSION, headers={"X-CSRF-Token": csrf}).status_code == 204
    after = client.get(SESSION)
    assert after.status_code == 401
    assert after.get_json()["error"]["code"] == "not_authenticated"
    assert client.get("/api/v1/profile/ibkr/connectors").status_code == 401


def test_a_forged_cookie_is_not_a_session(app, client) -> None:
    client.set_cookie("session", "eyJ1c2VyX2lkIjoxfQ.forged.signature")
    assert client.get(SESSION).status_code == 401


def test_login_is_rate_limited(make_app) -> None:
    app = make_app(VERACITY_LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    answers = [client.post(SESSION, json={"email": "x@example.com", "password": "wrong-one"})
               for _ in range(3)]
    assert [answer.status_code for answer in answers] == [401, 401, 429]
    assert answers[-1].get_json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in answers[-1].headers
