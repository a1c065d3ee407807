"""Many connectors racing to exchange one token against real gunicorn workers: one winner."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from tests.support.server_fixtures import start_live_server
from veracity_server.db import Database
from veracity_server.models import Connector

RACERS = 60


def _race(base_url: str, token: str) -> list[tuple[int, dict]]:
    start = threading.Barrier(RACERS)

    def exchange(index: int) -> tuple[int, dict]:
        with requests.Session() as session:
            start.wait()
            response = session.post(f"{base_url}/api/v1/connector/exchange", timeout=60, json={
                "token": token, "device": {"hostname": f"pc-{index}", "platform": "Windows-11",
                                           "connector_version": "1.0.0"}})
            return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return list(pool.map(exchange, range(RACERS)))


@pytest.mark.parametrize("database_kind", ["sqlite", pytest.param("postgresql",
                                                                   marks=pytest.mark.postgres)])
def test_sixty_concurrent_exchanges_of_one_token_issue_exactly_one_key(
        database_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database_url = (request.getfixturevalue("postgres_database_url")
                    if database_kind == "postgresql" else None)
    with start_live_server(tmp_path, database_url=database_url, workers=4) as server:
        server.create_user("racer@example.com")
        token = server.issue_token("racer@example.com")
        results = _race(server.base_url, token)

        winners = [body for status, body in results if status == 201]
        losers = [(status, body) for status, body in results if status != 201]
        assert len(winners) == 1, results
        assert winners[0]["connector_key"].startswith("vck_")
        assert len(losers) == RACERS - 1
        assert {status for status, _ in losers} == {401}
        assert {body["error"]["code"] for _, body in losers} == {"token_used"}

        database = Database(server.database_url)
        try:
            with database.sessions() as session:
                assert session.scalar(select(func.count()).select_from(Connector)) == 1
        finally:
            database.dispose()
