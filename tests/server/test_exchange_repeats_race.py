"""Concurrent repeats of one idempotent exchange (same token, same idempotency key) against real
gunicorn workers: one connector, and whichever answer reaches the client works.

A client that gave up on a request and sent it again keeps whichever answer arrives, so no
answer may carry a key that another answer replaced. Every key answered stays a candidate until
the connector first authenticates with one of them; from then on only that one works. Each round
below uses a different answer of its race first, so every position in the race is tried.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from tests.support.server_fixtures import LiveServer, start_live_server
from veracity_server.db import Database
from veracity_server.models import Connector, ConnectorKeyCandidate

RACERS = 6
BEAT: dict[str, Any] = {"connector_version": "1.0.0", "gateway": {"state": "ok"}}


def _race(server: LiveServer, token: str, attempt: str) -> list[tuple[int, dict]]:
    """RACERS exchanges of `token` with the same idempotency key, released at once."""
    start = threading.Barrier(RACERS)

    def exchange(index: int) -> tuple[int, dict]:
        with requests.Session() as session:
            start.wait()
            response = session.post(server.url("/api/v1/connector/exchange"), timeout=60, json={
                "token": token, "idempotency_key": attempt,
                "device": {"hostname": "trader-pc", "platform": "Windows-11",
                           "connector_version": "1.0.0"}})
            return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return list(pool.map(exchange, range(RACERS)))


def _beat(server: LiveServer, key: str) -> int:
    return requests.post(server.url("/api/v1/connector/heartbeat"), json=BEAT, timeout=30,
                         headers={"Authorization": f"Bearer {key}"}).status_code


@pytest.mark.parametrize("database_kind", ["sqlite", pytest.param("postgresql",
                                                                   marks=pytest.mark.postgres)])
def test_every_answer_of_concurrent_repeats_works_until_one_is_used(
        database_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database_url = (request.getfixturevalue("postgres_database_url")
                    if database_kind == "postgresql" else None)
    with start_live_server(tmp_path, database_url=database_url, workers=4) as server:
        server.create_user("racer@example.com")
        database = Database(server.database_url)
        try:
            for used in range(RACERS):
                token = server.issue_token("racer@example.com")
                attempt = str(uuid.uuid4())
                results = _race(server, token, attempt)

                assert {status for status, _ in results} == {201}, results
                answers = [body for _, body in results]
                assert len({body["connector_id"] for body in answers}) == 1
                keys = [body["connector_key"] for body in answers]
                assert len(set(keys)) == RACERS  # each repeat answered its own key
                connector_id = answers[0]["connector_id"]
                with database.sessions() as session:
                    assert session.scalar(select(func.count()).select_from(Connector)) == (
                        used + 1)  # one connector per token, however many repeats

                # The client kept answer `used` (a different one each round): it works...
                assert _beat(server, keys[used]) == 200, (used, results)
                # ...and from then on it is the connector's only key.
                for index, key in enumerate(keys):
                    if index != used:
                        assert _beat(server, key) == 401, (used, index)
                assert _beat(server, keys[used]) == 200
                with database.sessions() as session:
                    assert session.scalar(select(func.count()).select_from(
                        ConnectorKeyCandidate).where(
                        ConnectorKeyCandidate.connector_id == connector_id)) == 0

                # A late copy of the same request after the first authentication gets no key.
                late = _race(server, token, attempt)
                assert {body["error"]["code"] for _, body in late} == {"token_used"}
                assert _beat(server, keys[used]) == 200
        finally:
            database.dispose()
