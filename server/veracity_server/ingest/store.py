"""The hot ingest path's SQL, written once per dialect, run without ORM or statement building.

Heartbeats and snapshots are most of the server's traffic. Building SQLAlchemy statements and
going through the ORM cost several times more than the database work itself (measured with
benchmarks/ingest.py), so these few statements are plain SQL text, run by
veracity_server/ingest/service.py on a pooled DB-API connection from SQLAlchemy's engine
(`Database.raw_connection`), in transactions that `Database.write_transaction` commits. The
tables and columns are those of veracity_server/models.py; tests read what this writes back
through the ORM, field by field.

Values are converted here, once, the way the ORM's column types store them: on SQLite, times
as naive UTC text in SQLAlchemy's format and decimals as exact plain text
(`veracity_server.columns.exact_text`, as `ExactDecimal` writes them; no process-wide sqlite3
adapter is registered); on PostgreSQL, Decimal and aware datetimes as they are. Rows of
positions and stop orders go in bulk: COPY on PostgreSQL, multi-row INSERTs on SQLite.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from veracity_server.columns import exact_text
from veracity_server.models import POSITION_DATA_COLUMNS, STOP_ORDER_DATA_COLUMNS


def _insert(table: str, columns: Sequence[str], returning: bool = False) -> str:
    marks = ", ".join(["?"] * len(columns))
    suffix = " RETURNING id" if returning else ""
    column_list = ", ".join(columns)
    # Table and column names are this module's constants; values go in as parameters.
    return f"INSERT INTO {table} ({column_list}) VALUES ({marks}){suffix}"  # noqa: S608


class IngestSql:
    """The ingest statements and value conversions for one database dialect."""

    def __init__(self, dialect_name: str) -> None:
        self.is_sqlite = dialect_name == "sqlite"
        # Written with SQLite's "?" placeholders; psycopg takes "%s" (no "?" or "%" is in the
        # statements otherwise). Every piece is a constant of this module: no input is pasted.
        mark = "?" if self.is_sqlite else "%s"

        def statement(text: str) -> str:
            return text.replace("?", mark)

        self.heartbeat = statement(
            "UPDATE connectors SET last_seen_at = ?, connector_version = ?, uptime_s = ?, "
            "reported_last_snapshot_at = ?, gateway_state = ?, gateway_message = ?, "
            "gateway_port = ? WHERE key_hash = ? AND revoked_at IS NULL")
        self.active_connector = statement(
            "SELECT id, user_id FROM connectors WHERE key_hash = ? AND revoked_at IS NULL")
        self.insert_snapshot = statement(_insert(
            "snapshots", ("user_id", "connector_id", "snapshot_id", "taken_at", "received_at"),
            returning=True))
        self.snapshot_exists = statement(
            "SELECT 1 FROM snapshots WHERE user_id = ? AND snapshot_id = ?")
        self.insert_account = statement(_insert(
            "snapshot_accounts", ("snapshot_pk", "user_id", "taken_at", "account_id",
                                  "base_currency", "net_liquidation", "cash"), returning=True))
        self.insert_positions = _BulkInsert(
            "positions", ("snapshot_account_id", *POSITION_DATA_COLUMNS), self.is_sqlite)
        self.insert_stop_orders = _BulkInsert(
            "stop_orders", ("snapshot_account_id", *STOP_ORDER_DATA_COLUMNS), self.is_sqlite)
        # Backfilled (older) snapshots must not move last_snapshot_at backwards.
        self.advance_last_snapshot = statement(
            "UPDATE connectors SET last_snapshot_at = ? WHERE id = ? "
            "AND (last_snapshot_at IS NULL OR last_snapshot_at < ?)")

    def number(self, value: Decimal | None) -> Any:
        """A decimal as this database stores it (exact text on SQLite)."""
        return exact_text(value) if self.is_sqlite and value is not None else value

    def time(self, moment: datetime | None) -> Any:
        """A timezone-aware datetime as this database stores it."""
        if moment is None:
            return None
        moment = moment.astimezone(UTC)
        # isoformat zero-pads the year (strftime's %Y does not on Linux), as SQLAlchemy writes.
        return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if (
            self.is_sqlite) else moment

class _BulkInsert:
    """Many rows into one table: COPY on PostgreSQL, multi-row INSERT statements on SQLite.

    Both cost far less than executemany's statement per row. (psycopg parses every long
    multi-row statement's placeholders again in Python, so PostgreSQL gets COPY, which it
    streams without any statement at all.) `values()` prepares everything but the parent id
    before the write lock is taken; `run()` only sends it.
    """

    # SQLite allows 32766 parameters per statement: 500 rows of a dozen columns stay below.
    CHUNK_ROWS = 500

    def __init__(self, table: str, columns: Sequence[str], is_sqlite: bool) -> None:
        self.is_sqlite = is_sqlite
        self.value_columns = len(columns) - 1  # all but the parent id
        column_list = ", ".join(columns)
        self.copy_statement = f"COPY {table} ({column_list}) FROM STDIN"
        self.insert_prefix = f"INSERT INTO {table} ({column_list}) VALUES "  # noqa: S608
        self._values_of = operator.itemgetter(*columns[1:])
        self._insert_statements: dict[int, str] = {}

    def values(self, items: Iterable[Any]) -> list[Any]:
        """The parameters of `items` (pydantic models), without the parent id.

        Values come straight from each model's __dict__ through one C-level itemgetter: this
        runs for every position of every snapshot. PostgreSQL gets one tuple per row (for COPY,
        decimals stay Decimal); SQLite one flat list with decimals as exact text, as
        veracity_server.columns.ExactDecimal writes them, but converted here, outside the write
        lock, in one pass instead of one conversion call per number inside the INSERT.
        """
        values_of = self._values_of
        if not self.is_sqlite:
            return [values_of(item.__dict__) for item in items]
        return [exact_text(value) if value.__class__ is Decimal else value
                for item in items for value in values_of(item.__dict__)]

    def run(self, cursor: Any, parent_id: int, values: Sequence[Any]) -> None:
        """Insert the rows `values()` prepared under `parent_id`."""
        if not values:
            return
        if not self.is_sqlite:
            with cursor.copy(self.copy_statement) as copy:
                for row in values:
                    copy.write_row((parent_id, *row))
            return
        width = self.value_columns
        for start in range(0, len(values), self.CHUNK_ROWS * width):
            chunk = values[start:start + self.CHUNK_ROWS * width]
            cursor.execute(self._insert_statement(len(chunk) // width), [parent_id, *chunk])

    def _insert_statement(self, rows: int) -> str:
        """INSERT of `rows` rows; ?1 (the parent id) is bound once and repeated in every row."""
        statement = self._insert_statements.get(rows)
        if statement is None:
            width = self.value_columns
            row_marks = ("(?1, " + ", ".join(f"?{2 + row * width + column}"
                                            for column in range(width)) + ")"
                         for row in range(rows))
            statement = self.insert_prefix + ", ".join(row_marks)
            # At most CHUNK_ROWS statements per table, each built once per process.
            self._insert_statements[rows] = statement
        return statement


@functools.cache
def ingest_sql(dialect_name: str) -> IngestSql:
    """The statements for `dialect_name`, built once per process."""
    return IngestSql(dialect_name)
