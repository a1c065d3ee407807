"""The hot ingest path's SQL, written once per dialect, run without ORM or statement building.

Heartbeats and snapshots are most of the server's traffic. Building SQLAlchemy statements and
going through the ORM cost several times more than the database work itself (measured with
benchmarks/ingest.py), so these few statements are plain SQL text, run by
veracity_server/ingest/service.py on a pooled DB-API connection from SQLAlchemy's engine
(`Database.raw_connection`), in transactions that `Database.write_transaction` commits. The
tables and columns are those of veracity_server/models.py.

A snapshot writes three tables: its document (the validated body as it arrived), its
accounts' value points (one multi-row INSERT), and the connector's row, which moves its
current-state projection forward only when the snapshot is the newest and adds the document's
bytes to the connector's storage count. On SQLite these are three statements in one
transaction; on PostgreSQL one statement (`IngestSql.store_snapshot`), a single round trip.

Values are converted here, once, the way the ORM's column types store them: on SQLite, times
as naive UTC text in SQLAlchemy's format and decimals as exact plain text
(`veracity_server.columns.exact_text`, as `ExactDecimal` writes them); on PostgreSQL, Decimal
and aware datetimes as they are.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from veracity_server.columns import exact_text


class IngestSql:
    """The ingest statements and value conversions for one database dialect."""

    def __init__(self, dialect_name: str) -> None:
        self.is_sqlite = dialect_name == "sqlite"
        # Written with SQLite's "?" placeholders; psycopg takes "%s" (no "?" or "%" is in the
        # statements otherwise). Every piece is a constant of this module: no input is pasted.
        self.mark = "?" if self.is_sqlite else "%s"

        def statement(text: str) -> str:
            return text.replace("?", self.mark)

        # The key, and what the per-user storage limit needs, in one round trip.
        self.active_connector = statement(
            "SELECT c.id, c.user_id, c.retention_due_at, c.last_ip, "
            "(SELECT COALESCE(SUM(o.stored_bytes), 0) FROM connectors o "
            "WHERE o.user_id = c.user_id) "
            "FROM connectors c WHERE c.key_hash = ? AND c.revoked_at IS NULL")
        # A heartbeat writes only when something changed or last_seen_at is older than the
        # given time (or ahead of now: a clock set back must not freeze it).
        # The same UPDATE keeps the audit log's inputs (veracity_server/audit): SET expressions
        # all see the row as it was, so `gateway_state_since` and `ip_changed_at` become "now"
        # exactly when the state or the client IP changed (not from none: a connector paired
        # before the IP was kept), and RETURNING hands them back — no read before the write.
        # A heartbeat without a health summary (older connectors) keeps the stored one.
        self.heartbeat = statement(
            "UPDATE connectors SET last_seen_at = ?, connector_version = ?, uptime_s = ?, "
            "reported_last_snapshot_at = ?, gateway_state_since = CASE WHEN gateway_state IS "
            "DISTINCT FROM ? THEN ? ELSE gateway_state_since END, gateway_state = ?, "
            "gateway_message = ?, gateway_port = ?, ip_changed_at = CASE WHEN last_ip IS NOT "
            "NULL AND last_ip IS DISTINCT FROM ? THEN ? ELSE ip_changed_at END, last_ip = ?, "
            "health = COALESCE(?, health) "
            "WHERE key_hash = ? AND revoked_at IS NULL AND ("
            "last_seen_at IS NULL OR last_seen_at < ? OR last_seen_at > ? "
            "OR connector_version IS DISTINCT FROM ? OR gateway_state IS DISTINCT FROM ? "
            "OR gateway_message IS DISTINCT FROM ? OR gateway_port IS DISTINCT FROM ? "
            "OR last_ip IS DISTINCT FROM ? OR health IS DISTINCT FROM COALESCE(?, health)) "
            "RETURNING id, gateway_state_since, ip_changed_at")
        # A snapshot from another IP than the one loaded with its key (heartbeats see it in
        # their UPDATE); conditional, so two racing requests record it once.
        self.move_ip = statement(
            "UPDATE connectors SET last_ip = ?, ip_changed_at = ? WHERE id = ? AND "
            "last_ip IS DISTINCT FROM ?")
        self.insert_event = statement(
            "INSERT INTO connector_events (connector_id, kind, at, detail) VALUES (?, ?, ?, ?)")
        self.connector_exists = statement(
            "SELECT 1 FROM connectors WHERE key_hash = ? AND revoked_at IS NULL")
        self.insert_document = statement(
            "INSERT INTO snapshot_documents (user_id, connector_id, snapshot_id, taken_at, "
            "received_at, level, size_bytes, body) VALUES (?, ?, ?, ?, ?, -1, ?, ?) "
            "RETURNING id")
        self.snapshot_exists = statement(
            "SELECT 1 FROM snapshot_documents WHERE user_id = ? AND snapshot_id = ?")
        self.insert_points_prefix = (
            "INSERT INTO value_points (document_id, user_id, connector_id, account_id, "
            "currency, taken_at, level, net_liquidation) VALUES ")
        # A late (older) snapshot never moves the current state back; on a tie of taken_at
        # the one stored last wins. SET expressions all see the row as it was.
        newer = "(last_snapshot_at IS NULL OR last_snapshot_at <= ?)"
        self.advance_connector = statement(
            f"UPDATE connectors SET stored_bytes = stored_bytes + ?, "  # noqa: S608
            f"current_document_id = CASE WHEN {newer} THEN ? ELSE current_document_id END, "
            f"last_snapshot_at = CASE WHEN {newer} THEN ? ELSE last_snapshot_at END "
            f"WHERE id = ?")

    @functools.cache  # noqa: B019 — one instance per dialect, kept for the process
    def store_snapshot(self, point_rows: int) -> str:
        """PostgreSQL: a snapshot's three writes as one statement with `point_rows` points.

        Run in autocommit (`Database.ingest_connection`), one statement is one round trip and
        atomic by itself: the document's INSERT, its points' INSERT and the connector's UPDATE
        (data-modifying CTEs all run, and all see the same snapshot of the tables). A repeated
        snapshot_id fails the whole statement on the unique index, storing nothing. Named
        parameters: `user_id`, `connector_id`, `snapshot_id`, `taken_at`, `received_at`,
        `size`, `body`, and `account_N`, `currency_N`, `nav_N` for each point.
        """
        points = _points_cte(point_rows, "%(user_id)s, %(connector_id)s")
        # Only this module's constants and row numbers are pasted into the text.
        return (
            "WITH document AS (INSERT INTO snapshot_documents (user_id, connector_id, "  # noqa: S608
            "snapshot_id, taken_at, received_at, level, size_bytes, body) VALUES (%(user_id)s, "
            "%(connector_id)s, %(snapshot_id)s, %(taken_at)s, %(received_at)s, -1, %(size)s, "
            f"%(body)s) RETURNING id){points} "
            "UPDATE connectors SET stored_bytes = stored_bytes + %(size)s, "
            f"current_document_id = CASE WHEN {_NEWER} THEN (SELECT id FROM document) "
            "ELSE current_document_id END, "
            f"last_snapshot_at = CASE WHEN {_NEWER} THEN %(taken_at)s ELSE last_snapshot_at END "
            "WHERE id = %(connector_id)s")

    @functools.cache  # noqa: B019 — one instance per dialect, kept for the process
    def store_snapshot_by_key(self, point_rows: int) -> str:
        """PostgreSQL: find the key's connector and store a snapshot, in one statement.

        The common case of a snapshot is a known key, the IP its connector last used, room in
        the user's storage and a new snapshot_id; then the key's read and the three writes of
        `store_snapshot` are one round trip. The statement returns the connector's id and
        retention due time when the key is active, and whether the document was inserted;
        anything else (no row: an unknown, revoked or candidate key, a new IP, full storage;
        a row but nothing inserted: a repeated snapshot_id) takes the general path, which
        answers and records it. Named parameters: `key_hash`, `ip`, `storage_limit`, and
        those of `store_snapshot` except `user_id` and `connector_id`.
        """
        points = _points_cte(point_rows, "document.user_id, document.connector_id")
        # Only this module's constants and row numbers are pasted into the text.
        return (
            "WITH connector AS (SELECT c.id, c.user_id, c.retention_due_at FROM connectors c "  # noqa: S608
            "WHERE c.key_hash = %(key_hash)s AND c.revoked_at IS NULL "
            "AND (%(ip)s::text IS NULL OR c.last_ip IS NULL OR c.last_ip = %(ip)s::text) "
            "AND (SELECT COALESCE(SUM(o.stored_bytes), 0) FROM connectors o "
            "WHERE o.user_id = c.user_id) < %(storage_limit)s), "
            "document AS (INSERT INTO snapshot_documents (user_id, connector_id, snapshot_id, "
            "taken_at, received_at, level, size_bytes, body) SELECT connector.user_id, "
            "connector.id, %(snapshot_id)s, %(taken_at)s, %(received_at)s, -1, %(size)s, "
            "%(body)s FROM connector ON CONFLICT (user_id, snapshot_id) DO NOTHING "
            f"RETURNING id, user_id, connector_id){points}, "
            "advance AS (UPDATE connectors SET stored_bytes = stored_bytes + %(size)s, "
            f"current_document_id = CASE WHEN {_NEWER} THEN document.id "
            "ELSE current_document_id END, "
            f"last_snapshot_at = CASE WHEN {_NEWER} THEN %(taken_at)s ELSE last_snapshot_at END "
            "FROM document WHERE connectors.id = document.connector_id) "
            "SELECT connector.id, connector.retention_due_at, "
            "EXISTS (SELECT 1 FROM document) FROM connector")

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

    def stored_time(self, value: Any) -> datetime | None:
        """A datetime column's value as read by a raw cursor, timezone-aware."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @functools.cache  # noqa: B019 — one instance per dialect, kept for the process
    def insert_points(self, rows: int) -> str:
        """INSERT of `rows` value points (at most one per account: 200)."""
        row = "(" + ", ".join([self.mark] * 6) + ", -1, " + self.mark + ")"
        return self.insert_points_prefix + ", ".join([row] * rows)


# PostgreSQL statements: a late (older) snapshot never moves the connector's current state back.
_NEWER = "(last_snapshot_at IS NULL OR last_snapshot_at <= %(taken_at)s)"


def _points_cte(point_rows: int, owner: str) -> str:
    """PostgreSQL: the CTE inserting a document's `point_rows` value points (empty for none);
    `owner` is the SQL giving their user_id and connector_id."""
    if not point_rows:
        return ""
    rows = ", ".join(f"(%(account_{row})s::text, %(currency_{row})s::text, "
                     f"%(nav_{row})s::numeric)" for row in range(point_rows))
    return (", points AS (INSERT INTO value_points (document_id, user_id, connector_id, "  # noqa: S608
            f"account_id, currency, taken_at, level, net_liquidation) SELECT document.id, {owner}, "
            "point.account_id, point.currency, %(taken_at)s, -1, point.net_liquidation "
            f"FROM document, (VALUES {rows}) AS point(account_id, currency, net_liquidation))")


@functools.cache
def ingest_sql(dialect_name: str) -> IngestSql:
    """The statements for `dialect_name`, built once per process."""
    return IngestSql(dialect_name)
