"""At most VERACITY_PAIRING_TOKENS_PER_USER valid pairing tokens per user: generating another
retires the oldest (it answers token_expired), on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import select

from tests.support.server_fixtures import create_user, login
from veracity_server.columns import utc_now
from veracity_server.db import database
from veracity_server.models import PairingToken

TOKENS = "/api/v1/profile/ibkr/tokens"
EXCHANGE = "/api/v1/connector/exchange"
DEVICE = {"hostname": "pc", "platform": "Windows-11", "connector_version": "1.0.0"}


def _valid_tokens(app: Flask, user_id: int) -> int:
    now = utc_now()
    with database(app).sessions() as session:
        return len(session.scalars(select(PairingToken).where(
            PairingToken.user_id == user_id, PairingToken.used_at.is_(None),
            PairingToken.expires_at > now)).all())


def _generate(app: Flask, count: int, email: str = "a@example.com") -> list[str]:
    client = app.test_client()
    csrf = login(client, email)
    tokens = []
    for _ in range(count):
        response = client.post(TOKENS, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 201
        tokens.append(response.get_json()["token"])
    return tokens


def _exchange(app: Flask, token: str):
    return app.test_client().post(EXCHANGE, json={"token": token, "device": DEVICE})


def test_a_fourth_token_retires_the_oldest(app: Flask) -> None:
    user_id = create_user(app, "a@example.com")
    tokens = _generate(app, 4)
    assert _valid_tokens(app, user_id) == 3
    retired = _exchange(app, tokens[0])
    assert retired.status_code == 401
    assert retired.get_json()["error"]["code"] == "token_expired"
    for token in tokens[1:]:
        assert _exchange(app, token).status_code == 201


def test_used_tokens_and_other_users_do_not_count(app: Flask) -> None:
    user_id = create_user(app, "a@example.com")
    other_id = create_user(app, "b@example.com")
    first = _generate(app, 1)[0]
    assert _exchange(app, first).status_code == 201  # used: no longer counts
    _generate(app, 3, "b@example.com")
    kept = _generate(app, 3)
    assert _valid_tokens(app, user_id) == 3 and _valid_tokens(app, other_id) == 3
    assert all(_exchange(app, token).status_code == 201 for token in kept)


def test_the_bound_is_a_setting(make_app) -> None:
    app = make_app(VERACITY_PAIRING_TOKENS_PER_USER=1)
    user_id = create_user(app, "a@example.com")
    tokens = _generate(app, 5)
    assert _valid_tokens(app, user_id) == 1
    assert _exchange(app, tokens[-2]).status_code == 401
    assert _exchange(app, tokens[-1]).status_code == 201


def test_tokens_generated_at_once_stay_within_the_bound(app: Flask) -> None:
    user_id = create_user(app, "a@example.com")
    clients = []
    for _ in range(6):
        client = app.test_client()
        clients.append((client, login(client, "a@example.com")))

    def generate(pair):
        client, csrf = pair
        return client.post(TOKENS, headers={"X-CSRF-Token": csrf}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(generate, clients * 3))
    assert statuses.count(201) == len(statuses)
    assert _valid_tokens(app, user_id) == 3
