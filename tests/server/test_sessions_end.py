"""Sessions that end: logout ends the session for every copy of its cookie, "log out other
sessions", a password change, and the idle and absolute lifetimes (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.server_fixtures import DEFAULT_PASSWORD, LiveServer, create_user, login
from veracity_server.cli import main
from veracity_server.db import database
from veracity_server.models import UserSession

SESSION = "/api/v1/session"
PORTFOLIO = "/api/v1/profile/ibkr/portfolio"
OTHERS = "/api/v1/session/log-out-others"
EMAIL = "trader@example.com"


def _copy_of(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another client holding a copy of `client`'s session cookie (a stolen or synced cookie)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def _age_sessions(app: Flask, **ages: timedelta) -> None:
    """Move every session record's timestamps back by the given ages."""
    with database(app).sessions() as db:
        for record in db.scalars(select(UserSession)):
            for column, age in ages.items():
                setattr(record, column, getattr(record, column) - age)
        db.commit()


def test_logout_ends_the_session_for_a_copied_cookie(app: Flask, client: FlaskClient) -> None:
    create_user(app, EMAIL)
    csrf = login(client, EMAIL)
    copy = _copy_of(client, app)
    assert copy.get(PORTFOLIO).status_code == 200

    assert client.delete(SESSION, headers={"X-CSRF-Token": csrf}).status_code == 204

    answer = copy.get(PORTFOLIO)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "not_authenticated"
    assert copy.delete(SESSION, headers={"X-CSRF-Token": csrf}).status_code == 401
    assert copy.get("/profile/ibkr").status_code == 302  # the page sends it to the login


def test_logging_in_again_replaces_the_session(app: Flask, client: FlaskClient) -> None:
    create_user(app, EMAIL)
    login(client, EMAIL)
    earlier = _copy_of(client, app)
    login(client, EMAIL)
    assert earlier.get(PORTFOLIO).status_code == 401
    assert client.get(PORTFOLIO).status_code == 200
    with database(app).sessions() as db:
        assert len(db.scalars(select(UserSession)).all()) == 1


def test_log_out_other_sessions_keeps_only_this_one(app: Flask, client: FlaskClient) -> None:
    create_user(app, EMAIL)
    create_user(app, "someone@example.com")
    csrf = login(client, EMAIL)
    laptop, phone, stranger = (app.test_client() for _ in range(3))
    login(laptop, EMAIL)
    login(phone, EMAIL)
    login(stranger, "someone@example.com")
    copy = _copy_of(laptop, app)

    answer = client.post(OTHERS, headers={"X-CSRF-Token": csrf})

    assert answer.status_code == 200 and answer.get_json() == {"ended": 2}
    for ended in (laptop, phone, copy):
        assert ended.get(PORTFOLIO).status_code == 401
    assert client.get(PORTFOLIO).status_code == 200
    assert stranger.get(PORTFOLIO).status_code == 200  # another user's session is untouched


def test_log_out_other_sessions_needs_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    create_user(app, EMAIL)
    login(client, EMAIL)
    other = app.test_client()
    login(other, EMAIL)
    answer = client.post(OTHERS)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "csrf_failed"
    assert other.get(PORTFOLIO).status_code == 200
    assert app.test_client().post(OTHERS).status_code == 401


def test_a_session_unused_for_the_idle_lifetime_ends(make_app) -> None:
    app = make_app(VERACITY_SESSION_IDLE_S=600)
    create_user(app, EMAIL)
    client = app.test_client()
    login(client, EMAIL)
    _age_sessions(app, last_seen_at=timedelta(seconds=590))
    assert client.get(PORTFOLIO).status_code == 200  # used in time: the clock starts again
    _age_sessions(app, last_seen_at=timedelta(seconds=590))
    assert client.get(PORTFOLIO).status_code == 200
    _age_sessions(app, last_seen_at=timedelta(seconds=601))
    assert client.get(PORTFOLIO).status_code == 401


def test_a_session_ends_at_its_absolute_lifetime_however_busy(make_app) -> None:
    app = make_app(VERACITY_SESSION_LIFETIME_S=3600, VERACITY_SESSION_IDLE_S=600)
    create_user(app, EMAIL)
    client = app.test_client()
    login(client, EMAIL)
    _age_sessions(app, created_at=timedelta(seconds=3590))
    assert client.get(PORTFOLIO).status_code == 200
    _age_sessions(app, created_at=timedelta(seconds=11))
    assert client.get(PORTFOLIO).status_code == 401
    assert login(client, EMAIL)  # a new login is a new session


def test_lifetimes_are_validated_settings(make_app) -> None:
    from veracity_server.settings import SettingsError

    with pytest.raises(SettingsError, match="VERACITY_SESSION_IDLE_S"):
        make_app(VERACITY_SESSION_IDLE_S="a while")


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in [*os.environ]:
        if name.startswith("VERACITY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VERACITY_ENV", "development")
    monkeypatch.setenv("VERACITY_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def test_set_password_ends_every_session(cli_env: str, app: Flask, capsys,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    create_user(app, EMAIL)
    browsers = [app.test_client() for _ in range(2)]
    for browser in browsers:
        login(browser, EMAIL)

    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["set-password", EMAIL, "--password-stdin"]) == 0
    assert "2 session(s) ended" in capsys.readouterr().err

    for browser in browsers:
        assert browser.get(PORTFOLIO).status_code == 401
    fresh = app.test_client()
    assert fresh.post(SESSION, json={"email": EMAIL, "password": DEFAULT_PASSWORD}) \
        .status_code == 401
    assert login(fresh, EMAIL, "a brand new password")


def test_set_password_refuses_a_short_one_and_an_unknown_user(cli_env: str, app: Flask, capsys,
                                                              monkeypatch) -> None:
    create_user(app, EMAIL)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["set-password", EMAIL, "--password-stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough password\n"))
    assert main(["set-password", "nobody@example.com", "--password-stdin"]) == 1
    assert login(app.test_client(), EMAIL)  # unchanged


def test_logout_on_one_gunicorn_worker_ends_the_copy_on_every_worker(
        live_server: LiveServer) -> None:
    live_server.create_user(EMAIL)
    browser = live_server.login(EMAIL)
    copy = requests.Session()
    copy.cookies.update(browser.cookies)
    assert copy.get(live_server.url(PORTFOLIO), timeout=10).status_code == 200

    assert browser.delete(live_server.url(SESSION), timeout=10).status_code == 204

    # Several requests: with two workers, each is likely to see one of them.
    for _ in range(6):
        assert copy.get(live_server.url(PORTFOLIO), timeout=10).status_code == 401


def test_the_profile_page_offers_sign_out_other_sessions(app: Flask, client: FlaskClient) -> None:
    create_user(app, EMAIL)
    login(client, EMAIL)
    page = client.get("/profile/ibkr").get_data(as_text=True)
    assert 'id="logout-others-button"' in page and f'data-url="{OTHERS}"' in page
    assert "Sign out other sessions" in page
    assert "At most 3 unused tokens stay valid" in page  # the pairing card states the bound
