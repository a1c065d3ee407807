"""pg_direct.has_row: the repeat heartbeat's read through libpq, on a real PostgreSQL.

It must answer as the cursor did, survive a server that forgot its prepared statements, and fail
the way psycopg fails: SQL errors by their class, a lost server as an OperationalError that the
app answers 503 for, and a dead connection never handed out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors

from veracity_server.db import Database, is_database_unavailable
from veracity_server.models import Connector
from veracity_server.users import create_user

pytestmark = pytest.mark.postgres

KEY_READ = "SELECT 1 FROM connectors WHERE key_hash = %s AND revoked_at IS NULL"


@pytest.fixture
def db(postgres_database_url: str) -> Iterator[Database]:
    database = Database(postgres_database_url, timeout_s=5)
    now = datetime.now(UTC)
    with database.sessions() as session:
        user = create_user(session, "a@example.com", "correct horse battery staple")
        for connector_id, key_hash, revoked_at in (("c-live", "live-hash", None),
                                                   ("c-gone", "revoked-hash", now)):
            session.add(Connector(id=connector_id, user_id=user.id, key_hash=key_hash,
                                  hostname="pc", platform="Windows-11", connector_version="1.0.0",
                                  created_at=now, revoked_at=revoked_at))
        session.commit()
    yield database
    database.dispose()


def _backend_pid(connection: Any) -> int:
    return int(connection.dbapi_connection.pgconn.backend_pid)


def test_it_finds_the_live_key_and_not_a_revoked_or_unknown_one(db: Database) -> None:
    with db.ingest_connection() as connection:
        assert connection.dbapi_connection.autocommit  # the path under test, not the cursor's
        assert db.has_row(connection, KEY_READ, ("live-hash",)) is True
        assert db.has_row(connection, KEY_READ, ("revoked-hash",)) is False
        assert db.has_row(connection, KEY_READ, ("unknown",)) is False
        # Idle afterwards, as psycopg expects an autocommit connection to be.
        idle = psycopg.pq.TransactionStatus.IDLE
        assert connection.dbapi_connection.info.transaction_status == idle


def test_a_server_that_forgot_the_statement_has_it_prepared_again(db: Database) -> None:
    with db.ingest_connection() as connection:
        assert db.has_row(connection, KEY_READ, ("live-hash",))
        connection.dbapi_connection.execute("DEALLOCATE ALL")
        assert db.has_row(connection, KEY_READ, ("live-hash",))
        assert not db.has_row(connection, KEY_READ, ("unknown",))


def test_an_sql_error_is_psycopgs_own_class(db: Database) -> None:
    with db.ingest_connection() as connection:
        with pytest.raises(errors.UndefinedTable):
            db.has_row(connection, "SELECT 1 FROM no_such_table WHERE id = %s", ("1",))
        assert db.has_row(connection, KEY_READ, ("live-hash",))  # the connection still serves


def test_a_statement_past_its_timeout_counts_as_the_database_being_unavailable(
        db: Database) -> None:
    with db.ingest_connection() as connection:
        connection.dbapi_connection.execute("SET statement_timeout = 50")
        with pytest.raises(psycopg.OperationalError) as raised:
            db.has_row(connection, "SELECT 1 FROM pg_sleep(%s)", ("2",))
        assert isinstance(raised.value, errors.QueryCanceled)
        assert is_database_unavailable(raised.value)
        connection.dbapi_connection.execute("RESET statement_timeout")


def _terminate(db: Database, pid: int) -> None:
    """End backend `pid` as an administrator would, and wait until it is gone."""
    with db.raw_connection() as other:
        cursor = other.cursor()
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        assert cursor.fetchone()[0] is True
        other.commit()


def test_a_terminated_backend_fails_as_unavailable_and_is_not_handed_out_again(
        db: Database) -> None:
    with db.ingest_connection() as connection:
        assert db.has_row(connection, KEY_READ, ("live-hash",))
        victim = _backend_pid(connection)
        _terminate(db, victim)
        with pytest.raises(psycopg.OperationalError) as raised:
            db.has_row(connection, KEY_READ, ("live-hash",))
        assert is_database_unavailable(raised.value)
        assert connection.dbapi_connection.closed
    with db.ingest_connection() as connection:
        assert _backend_pid(connection) != victim
        assert db.has_row(connection, KEY_READ, ("live-hash",))
