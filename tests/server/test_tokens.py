"""POST /api/v1/profile/ibkr/tokens: one-time tokens with the configured lifetime."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from tests.support.server_fixtures import create_user, login
from veracity_server.columns import utc_now
from veracity_server.db import database
from veracity_server.models import PairingToken

TOKENS = "/api/v1/profile/ibkr/tokens"


def test_token_has_prefix_entropy_and_default_ttl(app, client) -> None:
    create_user(app, "a@example.com")
    csrf = login(client, "a@example.com")
    response = client.post(TOKENS, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("vct_") and len(body["token"]) >= 4 + 22  # >= 128 bits
    lifetime = datetime.fromisoformat(body["expires_at"]) - utc_now()
    assert 590 <= lifetime.total_seconds() <= 600
    with database(app).sessions() as session:
        stored = session.scalars(select(PairingToken)).one()
        assert body["token"] not in stored.token_hash


def test_each_token_is_different_and_an_empty_json_body_is_fine(app, client) -> None:
    create_user(app, "a@example.com")
    csrf = login(client, "a@example.com")
    first = client.post(TOKENS, headers={"X-CSRF-Token": csrf}, json={})
    second = client.post(TOKENS, headers={"X-CSRF-Token": csrf})
    assert first.status_code == second.status_code == 201
    assert first.get_json()["token"] != second.get_json()["token"]


def test_ttl_follows_the_setting(make_app) -> None:
    app = make_app(VERACITY_PAIRING_TOKEN_TTL_S=30)
    client = app.test_client()
    create_user(app, "a@example.com")
    csrf = login(client, "a@example.com")
    body = client.post(TOKENS, headers={"X-CSRF-Token": csrf}).get_json()
    lifetime = datetime.fromisoformat(body["expires_at"]) - utc_now()
    assert 20 <= lifetime.total_seconds() <= 30
