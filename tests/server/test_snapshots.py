"""POST /api/v1/connector/snapshots: stored exactly, once, and late ones never win."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body, start_live_server
from veracity_server.db import Database, database
from veracity_server.models import SnapshotDocument, ValuePoint

SNAPSHOTS = "/api/v1/connector/snapshots"


@pytest.fixture
def world(app, client) -> World:
    return build_world(app, client)


def _post(world: World, body: dict) -> tuple[int, dict]:
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    return response.status_code, response.get_json()


def _count(world: World, model: type) -> int:
    with database(world.app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_what_was_sent_is_what_is_stored_field_by_field(world: World) -> None:
    body = snapshot_body(positions=3, stop_orders=2, accounts=2)
    odd_order = body["accounts"][1]["stop_orders"][1]
    odd_order.update(order_type="TRAIL", stop_price=None, trailing_amount="2.5",
                     trailing_unit="%", limit_price=None, time_in_force=None, status=None)
    body["accounts"][0]["positions"][0]["multiplier"] = "100"
    assert _post(world, body)[0] == 201

    answer = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()
    stored_accounts = {account["account_id"]: account for account in answer["accounts"]}
    for sent_account in body["accounts"]:
        stored = stored_accounts[sent_account["account_id"]]
        for name in ("base_currency", "net_liquidation", "cash"):
            assert stored[name] == sent_account[name], name
        for kind in ("positions", "stop_orders"):
            assert len(stored[kind]) == len(sent_account[kind])
            for sent, row in zip(sent_account[kind], stored[kind], strict=True):
                for name, value in sent.items():
                    assert row[name] == _text(value), (name, value)


def _text(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def test_decimals_keep_every_digit_and_json_numbers_are_exact(world: World) -> None:
    body = snapshot_body(positions=1, stop_orders=0)
    position = body["accounts"][0]["positions"][0]
    position["quantity"] = "0.000000001"
    position["average_cost"] = "187.2345678901234"
    raw = json.dumps(body).replace('"100000.5000"', "1234567890123.4567")
    response = world.client.post(SNAPSHOTS, data=raw, content_type="application/json",
                                 headers=world.key_headers())
    assert response.status_code == 201, response.get_json()
    account = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()["accounts"][0]
    assert account["net_liquidation"] == "1234567890123.4567"
    assert account["positions"][0]["quantity"] == "0.000000001"
    assert account["positions"][0]["average_cost"] == "187.2345678901234"
    assert account["positions"][0]["market_price"] == "187.1200"


def test_a_replayed_snapshot_is_stored_once(world: World) -> None:
    body = snapshot_body(positions=2, stop_orders=1)
    assert _post(world, body) == (201, {"snapshot_id": body["snapshot_id"], "duplicate": False})
    assert _post(world, body) == (200, {"snapshot_id": body["snapshot_id"], "duplicate": True})
    assert _count(world, SnapshotDocument) == 1
    assert _count(world, ValuePoint) == 1


def test_an_older_snapshot_is_kept_but_does_not_replace_the_current_state(world: World) -> None:
    now = datetime.now(UTC)
    newer = snapshot_body(positions=2, taken_at=now, net_liquidation="2000.00")
    older = snapshot_body(positions=5, taken_at=now - timedelta(hours=1),
                          net_liquidation="1000.00")
    assert _post(world, newer)[0] == 201
    assert _post(world, older)[0] == 201  # late (backfilled from the outbox): accepted

    portfolio = world.client.get("/api/v1/profile/ibkr/portfolio?range=1W").get_json()
    account = portfolio["accounts"][0]
    assert account["snapshot_id"] == newer["snapshot_id"]
    assert account["net_liquidation"] == "2000.00"
    assert len(account["positions"]) == 2
    points = portfolio["value_history"][0]["points"]
    assert [point["net_liquidation"] for point in points] == ["1000.00", "2000.00"]
    connectors = world.client.get("/api/v1/profile/ibkr/connectors").get_json()["connectors"]
    current = next(c for c in connectors if c["id"] == world.connector_id)
    assert current["last_snapshot_at"] == newer["taken_at"].replace("+00:00", "Z")


def test_optional_fields_may_be_null_or_absent(world: World) -> None:
    body = snapshot_body(positions=1, stop_orders=1)
    account = body["accounts"][0]
    account.update(base_currency=None, net_liquidation=None, cash=None)
    account["positions"][0] = {"conid": 8314, "quantity": "-3"}
    account["stop_orders"][0] = {"order_id": 77, "conid": 8314, "side": "BUY"}
    assert _post(world, body)[0] == 201
    stored = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()["accounts"][0]
    assert stored["positions"][0]["symbol"] is None
    assert stored["positions"][0]["quantity"] == "-3"
    assert stored["stop_orders"][0]["order_id"] == "77"


def test_null_position_and_order_lists_mean_none_open(world: World) -> None:
    body = snapshot_body(positions=1, stop_orders=1, accounts=2)
    body["accounts"][0]["positions"] = None
    body["accounts"][1]["stop_orders"] = None
    assert _post(world, body)[0] == 201
    accounts = {account["account_id"]: account for account in
                world.client.get("/api/v1/profile/ibkr/portfolio").get_json()["accounts"]}
    first, second = (accounts[account["account_id"]] for account in body["accounts"])
    assert first["positions"] == [] and len(first["stop_orders"]) == 1
    assert len(second["positions"]) == 1 and second["stop_orders"] == []


def test_extreme_but_valid_numbers_still_render_the_portfolio_and_page(world: World) -> None:
    """Numbers at the schema's limits (1E+30, 1E-30) must not break derived figures later."""
    older = snapshot_body(positions=1, stop_orders=1,
                          taken_at=datetime.now(UTC) - timedelta(hours=1))
    older["accounts"][0]["net_liquidation"] = "1E+27"
    position = older["accounts"][0]["positions"][0]
    position.update(market_price="1E-30", quantity="1E+30")
    older["accounts"][0]["stop_orders"][0].update(conid=position["conid"], stop_price="1E+30",
                                                  side="SELL")
    assert _post(world, older)[0] == 201
    portfolio = world.client.get("/api/v1/profile/ibkr/portfolio")
    assert portfolio.status_code == 200
    assert portfolio.get_json()["accounts"][0]["positions"][0]["risk"]["has_stop"] is True
    assert _post(world, snapshot_body(positions=2, stop_orders=1))[0] == 201
    # The old extreme value stays in the value history the page charts.
    assert world.client.get("/api/v1/profile/ibkr/portfolio").status_code == 200
    assert world.client.get("/profile/ibkr").status_code == 200


def test_a_large_portfolio_fits_the_default_body_limit(world: World) -> None:
    # Eight accounts x 520 positions + 100 stop orders: about 1.4 MB of JSON (and more rows per
    # account than one multi-row INSERT takes, so the chunking is exercised too).
    body = snapshot_body(positions=520, stop_orders=100, accounts=8)
    assert len(json.dumps(body)) > 1_200_000
    assert _post(world, body)[0] == 201
    assert _count(world, SnapshotDocument) == 1
    portfolio = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()
    last = portfolio["accounts"][7]["positions"][519]
    assert last == {**body["accounts"][7]["positions"][519], "risk": last["risk"]}


def test_two_copies_racing_are_stored_once(database_url: str, tmp_path: Path) -> None:
    with start_live_server(tmp_path, database_url=database_url, workers=3) as server:
        server.create_user("race@example.com")
        _, key = server.pair("race@example.com")
        body = snapshot_body(positions=20, stop_orders=5, snapshot_id=str(uuid.uuid4()))
        copies = 12
        barrier = threading.Barrier(copies)

        def send(_: int) -> int:
            barrier.wait()
            return requests.post(server.url(SNAPSHOTS), json=body, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"}).status_code

        with ThreadPoolExecutor(copies) as pool:
            statuses = sorted(pool.map(send, range(copies)))
        assert statuses == [200] * (copies - 1) + [201]
        db = Database(server.database_url)
        try:
            with db.sessions() as session:
                assert session.scalar(select(func.count()).select_from(SnapshotDocument)) == 1
                assert session.scalar(select(func.count()).select_from(ValuePoint)) == 1
        finally:
            db.dispose()


def test_a_refusal_names_the_field_not_the_ibkr_account(world: World) -> None:
    """The connector logs refusals; account ids are IBKR data and must not be in them."""
    body = snapshot_body(accounts=1)
    body["accounts"].append(dict(body["accounts"][0]))
    status, answer = _post(world, body)
    assert status == 400
    assert "accounts[1]" in answer["error"]["message"]
    assert body["accounts"][0]["account_id"] not in answer["error"]["message"]


def test_decimals_are_answered_in_one_plain_spelling(world: World) -> None:
    body = snapshot_body(positions=1, stop_orders=1)
    account = body["accounts"][0]
    account["cash"] = "1.5E+3"
    account["positions"][0]["market_price"] = "1E-8"
    account["stop_orders"][0]["stop_price"] = "0.00000250"
    assert _post(world, body)[0] == 201
    answered = world.client.get("/api/v1/profile/ibkr/portfolio").get_json()["accounts"][0]
    assert answered["cash"] == "1500"
    assert answered["positions"][0]["market_price"] == "0.00000001"
    assert answered["stop_orders"][0]["stop_price"] == "0.00000250"  # trailing zeros kept
