"""Migration 0006 (daily history) on SQLite and PostgreSQL: its tables hold exact NAVs, refuse a
second point for the same (user, account, report date, source), go with their connector, and
its downgrade removes them (then the upgrade brings them back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from tests.support.postgres import PostgresCluster
from veracity_server.migrate import alembic_config, current_revision, upgrade_database

NAV = "123456789.123456789"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


POINT = ("INSERT INTO daily_history_points (user_id, connector_id, account_id, report_date, "
         "source, currency, nav, received_at) VALUES (1, 'c-1', 'U1', :day, :source, 'USD', "
         ":nav, :now)")


def test_migration_0006_up_down_up(empty_database_url: str) -> None:
    from alembic import command

    url = empty_database_url
    upgrade_database(url, "0006")
    assert current_revision(url) == "0006"
    engine = create_engine(url)
    sqlite = url.startswith("sqlite")
    now = "2026-12-06 12:00:00" if sqlite else "2026-12-06 12:00:00+00"
    try:
        with engine.begin() as connection:
            if sqlite:
                connection.execute(text("PRAGMA foreign_keys=ON"))
            connection.execute(text(
                "INSERT INTO users (id, public_id, email, password_hash, created_at) "
                "VALUES (1, 'u-1', 'h@example.com', 'x', :now)"), {"now": now})
            connection.execute(text(
                "INSERT INTO connectors (id, user_id, key_hash, hostname, platform, "
                "connector_version, created_at) VALUES ('c-1', 1, :hash, 'pc', 'Windows-11', "
                "'1.0', :now)"), {"hash": "0" * 64, "now": now})
            for source in ("gateway", "flex"):
                connection.execute(text(POINT), {"day": "2026-12-04", "source": source,
                                                 "nav": NAV, "now": now})
        with engine.connect() as connection:
            stored = connection.execute(text(
                "SELECT nav FROM daily_history_points ORDER BY source")).scalars().all()
        assert [str(value) for value in stored] == [NAV, NAV]  # exact, no float on the way
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(POINT), {"day": "2026-12-04", "source": "flex",
                                             "nav": "1", "now": now})
        with engine.begin() as connection:
            if sqlite:
                connection.execute(text("PRAGMA foreign_keys=ON"))
            connection.execute(text("DELETE FROM connectors WHERE id = 'c-1'"))
            left = connection.execute(text(
                "SELECT count(*) FROM daily_history_points")).scalar()
        assert left == 0  # a deleted connector's history goes with it
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url), "0005")
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not tables & {"daily_history_points", "reconciliation_differences"}
    upgrade_database(url)
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"daily_history_points", "reconciliation_differences"} <= tables
