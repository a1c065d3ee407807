"""What a snapshot is stored as: the validated bytes as sent (compressed), or, for a body with
fractional JSON numbers, a re-encoding with every decimal as exact text."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body
from veracity_server.db import database
from veracity_server.models import SnapshotDocument

SNAPSHOTS = "/api/v1/connector/snapshots"


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _stored(world: World) -> bytes:
    with database(world.app).sessions() as session:
        return zlib.decompress(session.scalars(select(SnapshotDocument.body)).one())


def test_a_snapshot_with_decimal_strings_is_stored_as_the_bytes_it_came_in(world: World) -> None:
    raw = json.dumps(snapshot_body(positions=3, stop_orders=2)).encode()
    response = world.client.post(SNAPSHOTS, data=raw, content_type="application/json",
                                 headers=world.key_headers())
    assert response.status_code == 201
    assert _stored(world) == raw


def test_fractional_json_numbers_are_stored_as_exact_decimal_text(world: World) -> None:
    body = snapshot_body(positions=1, stop_orders=0)
    raw = json.dumps(body).replace('"187.1200"', "0.1000000000000000055511151231257827", 1)
    response = world.client.post(SNAPSHOTS, data=raw, content_type="application/json",
                                 headers=world.key_headers())
    assert response.status_code == 201
    stored = json.loads(_stored(world), parse_float=Decimal)
    assert stored["accounts"][0]["positions"][0]["market_price"] == \
        "0.1000000000000000055511151231257827"
    answer = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()
    assert answer["accounts"][0]["positions"][0]["market_price"] == \
        "0.1000000000000000055511151231257827"
