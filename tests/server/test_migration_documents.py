"""Migration 0004 carries normalized snapshots into documents, value points and each connector's
current projection, on SQLite and PostgreSQL, with data in it; its downgrade carries them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from tests.support.postgres import PostgresCluster
from tests.support.server_fixtures import TEST_SETTINGS, login
from veracity_server.app import create_app
from veracity_server.credentials import hash_password
from veracity_server.migrate import alembic_config, current_revision, upgrade_database

BEFORE = "0003"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


def _time(url: str, moment: datetime) -> object:
    # As revision 0003's columns store it: naive UTC text on SQLite, timestamptz on PostgreSQL.
    return moment.replace(tzinfo=None).isoformat(sep=" ") if url.startswith("sqlite") else moment


def _fill_normalized_tables(url: str) -> None:
    """One user, two connectors (one revoked), three snapshots, as revision 0003 stored them."""
    engine = create_engine(url)
    t = lambda moment: _time(url, moment)  # noqa: E731
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (id, public_id, email, password_hash, created_at) "
            "VALUES (1, 'u-1', 'old@example.com', :password, :now)"),
            {"password": hash_password("correct horse battery staple"), "now": t(T0)})
        for connector_id, revoked in (("c-live", None), ("c-old", t(T0))):
            connection.execute(text(
                "INSERT INTO connectors (id, user_id, key_hash, hostname, platform, "
                "connector_version, created_at, last_snapshot_at, revoked_at) VALUES "
                "(:id, 1, :hash, 'pc', 'Windows-11', '1.0', :now, :now, :revoked)"),
                {"id": connector_id, "hash": connector_id.ljust(64, "0"), "now": t(T0),
                 "revoked": revoked})
        snapshots = [(1, "c-live", "11111111-1111-4111-8111-111111111111", T0),
                     (2, "c-live", "22222222-2222-4222-8222-222222222222",
                      T0 - timedelta(hours=2)),  # a late one: older than snapshot 1
                     (3, "c-old", "33333333-3333-4333-8333-333333333333", T0)]
        for pk, connector_id, snapshot_id, taken_at in snapshots:
            connection.execute(text(
                "INSERT INTO snapshots (id, user_id, connector_id, snapshot_id, taken_at, "
                "received_at) VALUES (:pk, 1, :connector, :sid, :taken, :taken)"),
                {"pk": pk, "connector": connector_id, "sid": snapshot_id, "taken": t(taken_at)})
            account = "U1" if connector_id == "c-live" else "U2"
            connection.execute(text(
                "INSERT INTO snapshot_accounts (id, snapshot_pk, user_id, taken_at, account_id, "
                "base_currency, net_liquidation, cash) VALUES (:pk, :pk, 1, :taken, :account, "
                "'USD', :value, '12.3400')"),
                {"pk": pk, "taken": t(taken_at), "account": account,
                 "value": f"{1000 + pk}.0000000001"})
            connection.execute(text(
                "INSERT INTO positions (snapshot_account_id, conid, symbol, description, "
                "asset_class, quantity, market_price, market_value, average_cost, "
                "unrealized_pnl, currency, multiplier) VALUES (:pk, 265598, 'AAPL', 'Apple', "
                "'STK', :quantity, '187.1200', '18712.0000', '150.3375', '3678.4800', 'USD', "
                "NULL)"), {"pk": pk, "quantity": f"{pk}00.5"})
            connection.execute(text(
                "INSERT INTO stop_orders (snapshot_account_id, order_id, conid, symbol, side, "
                "order_type, quantity, stop_price, limit_price, trailing_amount, trailing_unit, "
                "time_in_force, status) VALUES (:pk, '1500001', 265598, 'AAPL', 'SELL', 'STP', "
                "'100', '170.0500', NULL, NULL, NULL, 'GTC', 'PreSubmitted')"), {"pk": pk})
    engine.dispose()


def test_upgrade_carries_every_snapshot_over_and_downgrade_brings_them_back(
        empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    upgrade_database(url, BEFORE)
    _fill_normalized_tables(url)
    upgrade_database(url)
    # Through every later revision too: the API below reads the head schema.
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert current_revision(url) == head

    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM snapshot_documents")).scalar() == 3
        points = connection.execute(text(
            "SELECT account_id, net_liquidation FROM value_points ORDER BY taken_at, id")).all()
        assert [(account, Decimal(str(value))) for account, value in points] == [
            ("U1", Decimal("1002.0000000001")), ("U1", Decimal("1001.0000000001")),
            ("U2", Decimal("1003.0000000001"))]
        current = dict(connection.execute(text(
            "SELECT c.id, d.snapshot_id FROM connectors c "
            "JOIN snapshot_documents d ON d.id = c.current_document_id")).all())
        assert current == {"c-live": "11111111-1111-4111-8111-111111111111",
                           "c-old": "33333333-3333-4333-8333-333333333333"}
        stored = connection.execute(text(
            "SELECT SUM(size_bytes) FROM snapshot_documents")).scalar()
        assert connection.execute(text(
            "SELECT SUM(stored_bytes) FROM connectors")).scalar() == stored > 0
    engine.dispose()

    # The API reads the carried data exactly, the revoked connector's account marked.
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": url,
                      "VERACITY_INSTANCE_PATH": str(tmp_path / "instance")})
    client = app.test_client()
    login(client, "old@example.com")
    portfolio = client.get("/api/v1/profile/ibkr/portfolio?range=All").get_json()
    accounts = {account["account_id"]: account for account in portfolio["accounts"]}
    assert accounts["U1"]["current"] is True and accounts["U2"]["current"] is False
    assert accounts["U1"]["net_liquidation"] == "1001.0000000001"
    assert accounts["U1"]["positions"][0]["quantity"] == "100.5"
    assert accounts["U1"]["stop_orders"][0]["stop_price"] == "170.0500"
    assert portfolio["net_liquidation_by_currency"] == {"USD": "1001.0000000001"}
    from veracity_server.db import database

    database(app).dispose()

    upgrade_database_down(url, BEFORE)
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT s.snapshot_id, a.account_id, a.net_liquidation, p.quantity, o.stop_price "
            "FROM snapshots s JOIN snapshot_accounts a ON a.snapshot_pk = s.id "
            "JOIN positions p ON p.snapshot_account_id = a.id "
            "JOIN stop_orders o ON o.snapshot_account_id = a.id ORDER BY s.snapshot_id")).all()
        assert [(row[0][:1], row[1], Decimal(str(row[2])), Decimal(str(row[3])),
                 Decimal(str(row[4]))) for row in rows] == [
            ("1", "U1", Decimal("1001.0000000001"), Decimal("100.5"), Decimal("170.05")),
            ("2", "U1", Decimal("1002.0000000001"), Decimal("200.5"), Decimal("170.05")),
            ("3", "U2", Decimal("1003.0000000001"), Decimal("300.5"), Decimal("170.05"))]
    engine.dispose()


def upgrade_database_down(url: str, revision: str) -> None:
    """Alembic downgrade to `revision`."""
    from alembic import command

    from veracity_server.migrate import alembic_config

    command.downgrade(alembic_config(url), revision)
