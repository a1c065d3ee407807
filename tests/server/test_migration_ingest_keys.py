"""Migration 0009: PostgreSQL drops the foreign keys that repeated the chain value point ->
document -> connector -> user; the data stays, and every delete still cascades down the chain.
SQLite keeps its tables as they were."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, inspect, text

from tests.support.postgres import PostgresCluster
from veracity_server.migrate import alembic_config, upgrade_database

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url_at_0008(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database()
    upgrade_database(url, "0008")
    return url


@contextlib.contextmanager
def _connection(url: str) -> Iterator[Connection]:
    """A connection in a transaction (committed at the end), its engine disposed after."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _fill(url: str) -> None:
    """A user with two connectors, each with a document and a value point."""
    moment: object = T0.replace(tzinfo=None).isoformat(sep=" ") if url.startswith("sqlite") \
        else T0
    with _connection(url) as connection:
        connection.execute(text(
            "INSERT INTO users (id, public_id, email, password_hash, created_at) "
            "VALUES (1, 'u-1', 'a@example.com', 'x', :t)"), {"t": moment})
        for number in (1, 2):
            connection.execute(text(
                "INSERT INTO connectors (id, user_id, key_hash, hostname, platform, "
                "connector_version, created_at) VALUES (:id, 1, :hash, 'pc', 'Windows-11', "
                "'1.0', :t)"), {"id": f"c-{number}", "hash": str(number) * 64, "t": moment})
            connection.execute(text(
                "INSERT INTO snapshot_documents (id, user_id, connector_id, snapshot_id, "
                "taken_at, received_at, level, size_bytes, body) VALUES (:n, 1, :c, :sid, :t, "
                ":t, 0, 3, :body)"),
                {"n": number, "c": f"c-{number}", "sid": f"s-{number}", "t": moment,
                 "body": b"xyz"})
            connection.execute(text(
                "INSERT INTO value_points (document_id, user_id, connector_id, account_id, "
                "currency, taken_at, level, net_liquidation) VALUES (:n, 1, :c, 'U1', 'USD', "
                ":t, 0, '100.5')"), {"n": number, "c": f"c-{number}", "t": moment})


def _foreign_keys(url: str, table: str) -> set[tuple[str, str]]:
    """(column, referred table) of each of `table`'s foreign keys."""
    with _connection(url) as connection:
        return {(key["constrained_columns"][0], key["referred_table"])
                for key in inspect(connection).get_foreign_keys(table)}


def _counts(url: str) -> tuple[int, ...]:
    with _connection(url) as connection:
        return tuple(connection.execute(text(
            f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608 — constant names
            for table in ("connectors", "snapshot_documents", "value_points"))


def _delete(url: str, statement: str) -> None:
    with _connection(url) as connection:
        if url.startswith("sqlite"):  # as the app's connections have it (db.py)
            connection.execute(text("PRAGMA foreign_keys=ON"))
        connection.execute(text(statement))


def test_postgresql_keeps_only_the_chains_keys_and_sqlite_keeps_all(url_at_0008: str) -> None:
    _fill(url_at_0008)
    upgrade_database(url_at_0008, "0009")

    assert _counts(url_at_0008) == (2, 2, 2)
    documents = _foreign_keys(url_at_0008, "snapshot_documents")
    points = _foreign_keys(url_at_0008, "value_points")
    if url_at_0008.startswith("postgresql"):
        assert documents == {("connector_id", "connectors")}
        assert points == {("document_id", "snapshot_documents")}
        command.downgrade(alembic_config(url_at_0008), "0008")
        assert _foreign_keys(url_at_0008, "value_points") == {
            ("document_id", "snapshot_documents"), ("user_id", "users"),
            ("connector_id", "connectors")}
        assert _counts(url_at_0008) == (2, 2, 2)
    else:
        assert documents == {("connector_id", "connectors"), ("user_id", "users")}
        assert ("user_id", "users") in points and ("connector_id", "connectors") in points


def test_deletes_still_cascade_down_the_chain(url_at_0008: str) -> None:
    _fill(url_at_0008)
    upgrade_database(url_at_0008, "head")

    _delete(url_at_0008, "DELETE FROM connectors WHERE id = 'c-1'")
    assert _counts(url_at_0008) == (1, 1, 1)
    _delete(url_at_0008, "DELETE FROM users WHERE id = 1")
    assert _counts(url_at_0008) == (0, 0, 0)
