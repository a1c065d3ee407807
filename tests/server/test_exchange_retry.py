"""The exchange's idempotency key: a retry whose first answer was lost gets the same connector
and a key that works; every key answered works until the connector first authenticates with one,
then only that one does; other repeats still get token_used. The answer also names the Veracity
account (opaque, stable, not the e-mail). Concurrent repeats: test_exchange_repeats_race.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.support.server_fixtures import create_user, issue_token, login, snapshot_body
from veracity_server.columns import utc_now
from veracity_server.db import database
from veracity_server.models import Connector, PairingToken

EXCHANGE = "/api/v1/connector/exchange"
HEARTBEAT = "/api/v1/connector/heartbeat"
DEVICE = {"hostname": "trader-pc", "platform": "Windows-11", "connector_version": "1.0.0"}
ATTEMPT = "0f6c3a55-0f6c-4a55-9f6c-3a550f6c3a55"
BEAT = {"connector_version": "1.0.0", "gateway": {"state": "ok"}}


def _exchange(client, token: str, attempt: str | None = ATTEMPT):
    body = {"token": token, "device": DEVICE}
    if attempt is not None:
        body["idempotency_key"] = attempt
    return client.post(EXCHANGE, json=body)


def _connector_count(app) -> int:
    with database(app).sessions() as session:
        return session.scalar(select(func.count()).select_from(Connector)) or 0


def _beat(client, key: str) -> int:
    return client.post(HEARTBEAT, json=BEAT, headers={"Authorization": f"Bearer {key}"}
                       ).status_code


def test_a_repeat_with_the_same_idempotency_key_gets_the_same_connector_and_a_new_key(
        app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    first = _exchange(client, token)
    assert first.status_code == 201
    repeat = _exchange(client, token)
    assert repeat.status_code == 201, repeat.get_json()
    first_body, repeat_body = first.get_json(), repeat.get_json()
    assert repeat_body["connector_id"] == first_body["connector_id"]
    assert repeat_body["account_id"] == first_body["account_id"]
    assert repeat_body["connector_key"] != first_body["connector_key"]
    assert _connector_count(app) == 1
    assert _beat(client, repeat_body["connector_key"]) == 200
    assert _beat(client, first_body["connector_key"]) == 401  # one working key, never two
    assert _beat(client, repeat_body["connector_key"]) == 200


def test_the_first_answer_stays_usable_after_a_repeat_until_a_key_is_used(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    first = _exchange(client, token).get_json()["connector_key"]
    repeat = _exchange(client, token).get_json()["connector_key"]
    # The client may have kept the first answer and given up on the repeat: the first key
    # authenticates, and from then on the repeat's key does not.
    assert _beat(client, first) == 200
    assert _beat(client, repeat) == 401
    assert _beat(client, first) == 200


def test_a_repeat_after_the_connector_authenticated_is_refused(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    key = _exchange(client, token).get_json()["connector_key"]
    assert _beat(client, key) == 200
    # A late copy of the request must not hand out a second key to a connector in use.
    response = _exchange(client, token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_used"
    assert _beat(client, key) == 200
    assert _connector_count(app) == 1


def test_a_first_snapshot_authenticates_a_candidate_key(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    first = _exchange(client, token).get_json()["connector_key"]
    repeat = _exchange(client, token).get_json()["connector_key"]
    stored = client.post("/api/v1/connector/snapshots", json=snapshot_body(),
                         headers={"Authorization": f"Bearer {repeat}"})
    assert stored.status_code == 201, stored.get_json()
    assert _beat(client, first) == 401
    assert _beat(client, repeat) == 200


def test_another_idempotency_key_or_none_gets_token_used(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    assert _exchange(client, token).status_code == 201
    for attempt in ("another-attempt-key-1234", None):
        response = _exchange(client, token, attempt)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "token_used"
    assert _connector_count(app) == 1


def test_a_repeat_after_the_token_expired_is_refused(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    assert _exchange(client, token).status_code == 201
    with database(app).sessions() as session:
        session.execute(update(PairingToken).values(expires_at=utc_now() - timedelta(seconds=1)))
        session.commit()
    response = _exchange(client, token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_used"


def test_a_repeat_for_a_revoked_connector_is_refused(app, client) -> None:
    create_user(app, "a@example.com")
    token = issue_token(app, "a@example.com")
    connector_id = _exchange(client, token).get_json()["connector_id"]
    csrf = login(client, "a@example.com")
    revoked = client.post(f"/api/v1/profile/ibkr/connectors/{connector_id}/revoke",
                          headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200
    response = _exchange(client, token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_used"


def test_the_account_id_is_stable_per_user_and_not_the_email(app, client) -> None:
    create_user(app, "a@example.com")
    create_user(app, "b@example.com")
    first = _exchange(client, issue_token(app, "a@example.com"), None).get_json()
    second = _exchange(client, issue_token(app, "a@example.com"), None).get_json()
    other = _exchange(client, issue_token(app, "b@example.com"), None).get_json()
    assert first["account_id"] == second["account_id"] != other["account_id"]
    assert "example" not in first["account_id"] and first["account_id"] != "1"


def test_a_malformed_idempotency_key_is_invalid_request(app, client) -> None:
    create_user(app, "a@example.com")
    response = _exchange(client, issue_token(app, "a@example.com"), "short")
    assert response.status_code == 400
    assert "idempotency_key" in response.get_json()["error"]["message"]
    assert _connector_count(app) == 0


def test_a_refused_snapshot_is_recorded_on_the_connector_and_listed(app, client) -> None:
    create_user(app, "a@example.com")
    body = _exchange(client, issue_token(app, "a@example.com")).get_json()
    snapshot = snapshot_body()
    snapshot["accounts"][0]["positions"][0]["side"] = "long"  # an unknown field
    response = client.post("/api/v1/connector/snapshots", json=snapshot,
                           headers={"Authorization": f"Bearer {body['connector_key']}"})
    assert response.status_code == 400
    login(client, "a@example.com")
    listed = client.get("/api/v1/profile/ibkr/connectors").get_json()["connectors"][0]
    refusal = listed["last_refusal"]
    assert (refusal["status"], refusal["code"]) == (400, "invalid_request")
    assert "unknown field" in refusal["message"] and refusal["at"]
    page = client.get("/profile/ibkr").get_data(as_text=True)
    assert 'data-field="last-refusal"' in page and "unknown field" in page
