"""POST /api/v1/connector/exchange: a token becomes a key once; every failure says why."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select, update

from tests.support.server_fixtures import create_user, issue_token, pair
from veracity_server.columns import utc_now
from veracity_server.db import database
from veracity_server.models import (
    Connector,
    ConnectorKeyCandidate,
    PairingToken,
    pending_key_marker,
)

EXCHANGE = "/api/v1/connector/exchange"
DEVICE = {"hostname": "trader-pc", "platform": "Windows-11", "connector_version": "1.0.0"}


def test_exchange_returns_a_key_and_intervals_and_stores_only_hashes(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    response = client.post(EXCHANGE, json={"token": token, "device": DEVICE})
    assert response.status_code == 201
    body = response.get_json()
    assert body["connector_key"].startswith("vck_") and len(body["connector_key"]) >= 47
    assert body["heartbeat_interval_s"] == 60 and body["snapshot_interval_s"] == 120
    key_hash = hashlib.sha256(body["connector_key"].encode()).hexdigest()
    with database(app).sessions() as session:
        connector = session.get(Connector, body["connector_id"])
        assert connector is not None
        # Until its first request the key waits as a candidate (pairing/keys.py)...
        assert connector.key_hash == pending_key_marker(connector.id)
        candidate = session.scalars(select(ConnectorKeyCandidate)).one()
        assert (candidate.key_hash, candidate.connector_id) == (key_hash, connector.id)
        assert (connector.hostname, connector.platform, connector.connector_version) == (
            "trader-pc", "Windows-11", "1.0.0")
        stored = session.scalars(select(PairingToken)).one()
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert stored.used_at is not None
    beat = client.post("/api/v1/connector/heartbeat",
                       json={"connector_version": "1.0.0", "gateway": {"state": "ok"}},
                       headers={"Authorization": f"Bearer {body['connector_key']}"})
    assert beat.status_code == 200
    with database(app).sessions() as session:
        # ...and then it is the connector's key, by its hash only.
        assert session.get_one(Connector, body["connector_id"]).key_hash == key_hash
        assert session.scalars(select(ConnectorKeyCandidate)).first() is None


def test_a_used_token_gets_token_used(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    pair(client, token)
    response = client.post(EXCHANGE, json={"token": token, "device": DEVICE})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_used"


def test_an_expired_token_gets_token_expired(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    with database(app).sessions() as session:
        session.execute(update(PairingToken).values(expires_at=utc_now() - timedelta(seconds=1)))
        session.commit()
    response = client.post(EXCHANGE, json={"token": token, "device": DEVICE})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_expired"
    with database(app).sessions() as session:
        assert session.scalars(select(Connector)).all() == []


def test_an_unknown_token_gets_token_invalid(client) -> None:
    response = client.post(EXCHANGE, json={"token": "vct_made-up", "device": DEVICE})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_invalid"


def test_the_key_works_after_a_restart_with_a_new_app(make_app) -> None:
    first = make_app()
    create_user(first, "a@example.com")
    _, key = pair(first.test_client(), issue_token(first, "a@example.com"))
    second = make_app()  # another process / instance with the same settings
    response = second.test_client().post(
        "/api/v1/connector/heartbeat", headers={"Authorization": f"Bearer {key}"},
        json={"connector_version": "1.0.0", "gateway": {"state": "ok"}})
    assert response.status_code == 200


def test_exchange_is_rate_limited_with_retry_after(make_app) -> None:
    app = make_app(VERACITY_EXCHANGE_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [client.post(EXCHANGE, json={"token": "vct_nope", "device": DEVICE})
                for _ in range(4)]
    assert [response.status_code for response in statuses] == [401, 401, 401, 429]
    limited = statuses[-1]
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
