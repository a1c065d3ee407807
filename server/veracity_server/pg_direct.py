"""A prepared one-row read straight through libpq, for the ingest's most frequent statement.

A repeated heartbeat is one indexed read of the connector's key (ingest/service.py). Through a
psycopg cursor that read cost ~67 µs of the worker's CPU (the cursor, parameter adaptation,
psycopg's prepare bookkeeping, its non-blocking wait loop, the row maker); through libpq's own
PQexecPrepared, which psycopg exposes as `Connection.pgconn`, ~20 µs (measured in-process
against a local PostgreSQL). On a 2-core host that is about 5 % of a heartbeat.

Only for connections in autocommit (the ingest pool, db.py): each call is a statement of its own,
and the connection's transaction state stays idle, as psycopg expects it. Each statement is
prepared once per connection, under a name of its own (not psycopg's `_pg3_` names); a server
that forgot it (DISCARD ALL) has it prepared again. Errors are psycopg's own classes, so a lost
server is an OperationalError like any other (db.is_database_unavailable), and a broken
connection is `closed` to the pool's checkout check.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq

_PREPARED_KEY = "veracity_prepared"
_UNDEFINED_STATEMENT = b"26000"  # invalid_sql_statement_name: not prepared on this session


@functools.lru_cache(maxsize=64)
def _prepared_form(statement: str) -> tuple[bytes, bytes]:
    """`statement` (psycopg's %s placeholders) as libpq's $1, $2…, and a name for it."""
    numbers = iter(range(1, statement.count("%s") + 1))
    text = re.sub("%s", lambda _: f"${next(numbers)}", statement)
    name = "veracity_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return name.encode(), text.encode()


def has_row(connection: Any, statement: str, parameters: Sequence[str | None]) -> bool:
    """True when `statement` (a read, %s placeholders, text parameters) returns a row.

    `connection` is a pooled connection (SQLAlchemy's proxy, whose `info` lives as long as the
    DB-API connection) to PostgreSQL in autocommit mode.
    """
    pgconn = connection.dbapi_connection.pgconn
    prepared: set[bytes] = connection.info.setdefault(_PREPARED_KEY, set())
    name, text = _prepared_form(statement)
    values = [None if value is None else value.encode() for value in parameters]
    result = _execute_prepared(pgconn, prepared, name, text, values)
    if (result.status == pq.ExecStatus.FATAL_ERROR
            and result.error_field(pq.DiagnosticField.SQLSTATE) == _UNDEFINED_STATEMENT):
        prepared.discard(name)  # the server forgot it (DISCARD ALL): once more, prepared anew
        result = _execute_prepared(pgconn, prepared, name, text, values)
    _check(pgconn, result, pq.ExecStatus.TUPLES_OK)
    return bool(result.ntuples)


def _execute_prepared(pgconn: Any, prepared: set[bytes], name: bytes, text: bytes,
                      values: list[bytes | None]) -> Any:
    if name not in prepared:
        _check(pgconn, pgconn.prepare(name, text, None), pq.ExecStatus.COMMAND_OK)
        prepared.add(name)
    return pgconn.exec_prepared(name, values)


def _check(pgconn: Any, result: Any, expected: pq.ExecStatus) -> None:
    """Raise psycopg's error for a failed command (OperationalError when the link is gone)."""
    if result.status == expected:
        return
    if pgconn.status == pq.ConnStatus.BAD:
        message = pgconn.error_message.decode("utf-8", "replace").strip()
        raise psycopg.OperationalError(message or "the connection to the server was lost")
    raise errors.error_from_result(result, encoding="utf-8")
