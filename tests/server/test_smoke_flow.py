"""The whole server flow through the real routes: login, token, exchange, heartbeat, snapshot,
portfolio, revoke."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support.server_fixtures import create_user, login, pair, snapshot_body


def test_pairing_ingest_and_portfolio_flow(app, client: FlaskClient) -> None:
    create_user(app, "trader@example.com")
    csrf = login(client, "trader@example.com")
    token_response = client.post("/api/v1/profile/ibkr/tokens", headers={"X-CSRF-Token": csrf})
    assert token_response.status_code == 201
    token = token_response.get_json()["token"]
    assert token.startswith("vct_")

    connector_id, key = pair(client, token)
    assert key.startswith("vck_")
    auth = {"Authorization": f"Bearer {key}"}
    beat = client.post("/api/v1/connector/heartbeat", headers=auth, json={
        "connector_version": "1.0.0", "uptime_s": 12, "last_snapshot_at": None,
        "gateway": {"state": "ok", "message": None, "port": 5000}})
    assert beat.status_code == 200, beat.get_json()
    assert beat.get_json()["heartbeat_interval_s"] == 60

    body = snapshot_body(positions=2, stop_orders=1)
    stored = client.post("/api/v1/connector/snapshots", headers=auth, json=body)
    assert stored.status_code == 201, stored.get_json()
    assert stored.get_json() == {"snapshot_id": body["snapshot_id"], "duplicate": False}

    connectors = client.get("/api/v1/profile/ibkr/connectors").get_json()["connectors"]
    assert [c["id"] for c in connectors] == [connector_id]
    assert connectors[0]["status"] == "online"
    assert connectors[0]["gateway"] == {"state": "ok", "message": None, "port": 5000}

    portfolio = client.get("/api/v1/profile/ibkr/portfolio").get_json()
    assert len(portfolio["accounts"]) == 1
    assert len(portfolio["accounts"][0]["positions"]) == 2

    revoked = client.post(f"/api/v1/profile/ibkr/connectors/{connector_id}/revoke",
                          headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200
    after = client.post("/api/v1/connector/heartbeat", headers=auth, json={
        "connector_version": "1.0.0", "gateway": {"state": "ok"}})
    assert after.status_code == 401
    assert after.get_json()["error"]["code"] == "invalid_key"
