"""The live-server fixture itself: gunicorn with the production config, restartable in place."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.server_fixtures import snapshot_body, start_live_server


def test_live_server_pairs_ingests_and_survives_a_restart_on_the_same_port(
        tmp_path: Path) -> None:
    with start_live_server(tmp_path) as server:
        server.create_user("live@example.com")
        _, key = server.pair("live@example.com")
        port = server.port
        server.stop()
        try:
            requests.get(server.url("/healthz"), timeout=2)
            raise AssertionError("the server still answers after stop()")
        except requests.ConnectionError:
            pass
        server.start()
        assert server.port == port
        body = snapshot_body(positions=1, stop_orders=0)
        answer = requests.post(server.url("/api/v1/connector/snapshots"), json=body,
                               headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert answer.status_code == 201, answer.text
        user = server.login("live@example.com")
        portfolio = user.get(server.url("/api/v1/profile/ibkr/portfolio"), timeout=10).json()
        assert portfolio["accounts"][0]["snapshot_id"] == body["snapshot_id"]
        # A logged-in unsafe request works with the CSRF header the helper set.
        assert user.post(server.url("/api/v1/profile/ibkr/tokens"), timeout=10).status_code == 201
