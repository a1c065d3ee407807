"""A new connector's first requests, sent at once with its new key, all authenticate.

The first authenticated request makes the answered key the connector's key (pairing/keys.py).
Two such first requests race: one claims the key, and the other, which looked for the key
before that claim and for the candidate after it, must see the claim rather than answer 401.
The connector sends its first heartbeat and first snapshot from two threads, so this race is
every pairing's, not a test's invention.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from flask import Flask

from tests.server.helpers import World, build_world, settle_key
from tests.support.server_fixtures import snapshot_body, start_live_server
from veracity_server.credentials import secret_hash
from veracity_server.db import database
from veracity_server.pairing.keys import claim_candidate_key


def test_a_claim_made_by_a_concurrent_request_counts(app: Flask, client) -> None:
    # The losing request's view: it found no connector with the key, and by the time it looks
    # for the candidate the winner has claimed the key and deleted the candidates.
    world: World = settle_key(build_world(app, client))
    db = database(app)
    with app.app_context(), db.ingest_connection() as connection:
        assert claim_candidate_key(db, connection, secret_hash(world.key)) is True
        assert claim_candidate_key(db, connection, secret_hash("vck_" + "x" * 40)) is False


def test_first_requests_racing_with_a_new_key_all_succeed(database_url: str,
                                                          tmp_path: Path) -> None:
    with start_live_server(tmp_path, database_url=database_url, workers=4) as server:
        server.create_user("first@example.com")
        for _ in range(3):
            _, key = server.pair("first@example.com")
            racers = 8
            start = threading.Barrier(racers)

            def first_request(index: int, key: str = key,
                              start: threading.Barrier = start) -> int:
                headers = {"Authorization": f"Bearer {key}"}
                start.wait()
                if index % 2:
                    return requests.post(server.url("/api/v1/connector/heartbeat"), timeout=60,
                                         headers=headers, json={"connector_version": "1.0.0",
                                                                "gateway": {"state": "ok"}}
                                         ).status_code
                return requests.post(server.url("/api/v1/connector/snapshots"), timeout=60,
                                     headers=headers,
                                     json=snapshot_body(snapshot_id=str(uuid.uuid4()))
                                     ).status_code

            with ThreadPoolExecutor(racers) as pool:
                statuses = list(pool.map(first_request, range(racers)))
            assert sorted(statuses) == [200] * (racers // 2) + [201] * (racers // 2), statuses
