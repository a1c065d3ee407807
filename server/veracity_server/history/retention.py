"""Retention: keep every snapshot for a while, then the last of each hour, then of each day.

With the defaults (VERACITY_RETAIN_ALL_DAYS=14, VERACITY_RETAIN_HOURLY_DAYS=90) a connector
holds every snapshot of the last 14 days, the last snapshot of each hour until 90 days, and the
last of each day (UTC) forever: its documents and its value points alike, so the chart's
series thins exactly as the snapshots do. A connector's current snapshot is never removed.
The same run deletes the connector's audit-log events (veracity_server/audit) older than
VERACITY_RETAIN_AUDIT_DAYS (365).

How it runs by itself: it is bounded work per connector, amortized into ingest. After a
snapshot is stored, `run_when_due` claims the connector's turn (one conditional UPDATE of
`retention_due_at`, so two workers never run the same connector at once) when it is due, once
per VERACITY_RETENTION_INTERVAL_S, runs it, and also runs a few overdue connectors that
no longer send anything (revoked or silent ones, whose old snapshots must still thin out).
`veracity-server retention` runs every due connector (`--all`: every connector) for a
scheduler or by hand; nothing else is needed in `make demo`, docker-compose or production.

Each run is idempotent: ingest stores every snapshot with level -1 (not looked at yet); a run
marks levels from the data as it is (0 any snapshot, 1 the last of its hour, 2 the last of its
four-hour block, 3 the last of its day; the chart's ranges read these) from the start of the
day of the oldest unmarked snapshot up to the current hour, then deletes level 0, 1 and 2
snapshots the policy no longer keeps, all in one write transaction per
connector. A snapshot stored meanwhile (ingest only inserts) keeps level -1, which no deletion
matches, until the next run marks it; a late one from an outbox, however old, pulls the next
run's window back to its day, so the last of that hour and day are chosen again with it.
"""

# Every statement here is built from this module's constants; values go in as parameters.
# ruff: noqa: S608

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from veracity_server.db import Database
from veracity_server.ingest.store import ingest_sql
from veracity_server.settings import Settings

log = logging.getLogger(__name__)

# Overdue silent connectors handled after a snapshot, besides the snapshot's own connector.
OTHERS_PER_RUN = 2
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Policy:
    """What to keep, and how often to look."""

    keep_all: timedelta
    keep_hourly: timedelta
    interval: timedelta
    keep_audit: timedelta = timedelta(days=365)


@dataclass
class Outcome:
    """What one run did for one connector."""

    marked: int = 0
    deleted_documents: int = 0
    freed_bytes: int = 0
    deleted_events: int = 0


def policy(settings: Settings) -> Policy:
    """The retention policy of `settings`."""
    return Policy(keep_all=timedelta(days=settings.retain_all_days),
                  keep_hourly=timedelta(days=max(settings.retain_hourly_days,
                                                 settings.retain_all_days)),
                  interval=timedelta(seconds=settings.retention_interval_s),
                  keep_audit=timedelta(days=settings.retain_audit_days))


class _Statements:
    """Retention's SQL for one dialect (plain text, like the ingest path's)."""

    def __init__(self, dialect_name: str) -> None:
        sqlite = dialect_name == "sqlite"
        mark = "?" if sqlite else "%s"
        # SQLite stores times as "YYYY-MM-DD HH:MM:SS.ffffff" text (UTC); PostgreSQL timestamptz.
        hour = ("substr(taken_at, 1, 13)" if sqlite
                else "date_trunc('hour', taken_at AT TIME ZONE 'UTC')")
        day = ("substr(taken_at, 1, 10)" if sqlite
               else "date_trunc('day', taken_at AT TIME ZONE 'UTC')")
        # Four-hour blocks (00-04, 04-08, ... UTC): the month chart's points.
        block = ("substr(taken_at, 1, 11) || (CAST(substr(taken_at, 12, 2) AS INTEGER) / 4)"
                 if sqlite else
                 "date_trunc('day', taken_at AT TIME ZONE 'UTC') + interval '4 hours' * "
                 "floor(extract(hour from taken_at AT TIME ZONE 'UTC') / 4)")
        window = f"connector_id = {mark} AND taken_at >= {mark} AND taken_at < {mark}"

        def last_of(bucket: str) -> str:
            return (f"SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY {bucket} "
                    f"ORDER BY taken_at DESC, id DESC) AS newest FROM snapshot_documents "
                    f"WHERE {window}) AS ranked WHERE newest = 1")

        # Table and column names and the bucket expressions are constants of this module.
        self.mark_documents = (
            f"UPDATE snapshot_documents SET level = CASE "
            f"WHEN id IN ({last_of(day)}) THEN 3 WHEN id IN ({last_of(block)}) THEN 2 "
            f"WHEN id IN ({last_of(hour)}) THEN 1 ELSE 0 END WHERE {window}")
        self.mark_points = (
            f"UPDATE value_points SET level = (SELECT d.level FROM snapshot_documents d "
            f"WHERE d.id = value_points.document_id) WHERE {window}")
        expired = (f"connector_id = {mark} AND ((level = 0 AND taken_at < {mark}) OR "
                   f"(level IN (1, 2) AND taken_at < {mark}))")
        # The points go with their documents (ON DELETE CASCADE).
        self.delete_documents = (
            f"DELETE FROM snapshot_documents WHERE {expired} AND id <> {mark} "
            f"RETURNING size_bytes")
        self.connector = f"SELECT current_document_id FROM connectors WHERE id = {mark}"
        # The audit log (veracity_server/audit) past VERACITY_RETAIN_AUDIT_DAYS; one index range.
        self.delete_events = (f"DELETE FROM connector_events WHERE connector_id = {mark} AND "
                              f"at < {mark}")
        # Where marking must start: the oldest snapshot not looked at yet (ingest stores -1).
        self.oldest_unmarked = (f"SELECT MIN(taken_at) FROM snapshot_documents WHERE "
                                f"connector_id = {mark} AND level = -1 AND taken_at < {mark}")
        self.release_bytes = (f"UPDATE connectors SET stored_bytes = stored_bytes - {mark} "
                              f"WHERE id = {mark}")
        self.claim = (f"UPDATE connectors SET retention_due_at = {mark} WHERE id = {mark} AND "
                      f"(retention_due_at IS NULL OR retention_due_at <= {mark})")
        self.claim_forced = f"UPDATE connectors SET retention_due_at = {mark} WHERE id = {mark}"
        self.overdue = (f"SELECT id FROM connectors WHERE retention_due_at <= {mark} "
                        f"ORDER BY retention_due_at LIMIT {mark}")
        self.every_connector = "SELECT id FROM connectors ORDER BY id"


def _statements(database: Database) -> _Statements:
    return _Statements(database.engine.dialect.name)


def run_when_due(database: Database, connector_id: str, due_at: datetime | None,
                 now: datetime, settings: Settings) -> None:
    """After a snapshot: this connector's run when it is due, and a few overdue others."""
    if due_at is not None and due_at > now:
        return  # nearly every snapshot: nothing else to do, not even reading the policy
    rules = policy(settings)
    try:
        run_connector(database, connector_id, now, rules)
        for other in overdue_connectors(database, now, OTHERS_PER_RUN):
            run_connector(database, other, now, rules)
    except Exception:
        # The snapshot is stored already; retention tries again at the next interval.
        log.exception("retention failed for a connector; it runs again later")


def overdue_connectors(database: Database, now: datetime, limit: int) -> list[str]:
    """Connectors whose retention is due, oldest first."""
    sql = _statements(database)
    times = ingest_sql(database.engine.dialect.name)
    with database.raw_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql.overdue, (times.time(now), limit))
        found = [str(row[0]) for row in cursor.fetchall()]
        cursor.close()
        connection.rollback()
    return found


def run_due(database: Database, now: datetime, rules: Policy, every: bool = False) -> int:
    """Run every due connector (or every connector); returns how many ran."""
    if every:
        with database.raw_connection() as connection:
            cursor = connection.cursor()
            cursor.execute(_statements(database).every_connector)
            connector_ids = [str(row[0]) for row in cursor.fetchall()]
            cursor.close()
            connection.rollback()
    else:
        connector_ids = overdue_connectors(database, now, 1_000_000)
    ran = 0
    for connector_id in connector_ids:
        if run_connector(database, connector_id, now, rules, force=every) is not None:
            ran += 1
    return ran


def run_connector(database: Database, connector_id: str, now: datetime, rules: Policy,
                  force: bool = False) -> Outcome | None:
    """One connector's run, if this caller wins its turn (None when another one has it)."""
    sql = _statements(database)
    times = ingest_sql(database.engine.dialect.name)
    with database.raw_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql.connector, (connector_id,))
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            connection.rollback()
            return None
        current_document = row[0]
        next_turn = times.time(now + rules.interval)
        with database.write_transaction(connection) as cursor:
            if force:
                # The CLI's --all: whoever holds the turn, this run goes too (it is idempotent).
                cursor.execute(sql.claim_forced, (next_turn, connector_id))
            else:
                cursor.execute(sql.claim, (next_turn, connector_id, times.time(now)))
            won = cursor.rowcount == 1
        if not won:
            return None
        window_end = _hour_start(now)
        keep_all_since = times.time(now - rules.keep_all)
        keep_hourly_since = times.time(now - rules.keep_hourly)
        expired = (connector_id, keep_all_since, keep_hourly_since, current_document or -1)
        outcome = Outcome()
        with database.write_transaction(connection) as cursor:
            cursor.execute(sql.oldest_unmarked, (connector_id, times.time(window_end)))
            oldest = times.stored_time(cursor.fetchone()[0])
            if oldest is not None:
                # From the start of that day: its last-of-day and last-of-hour may change.
                window = (connector_id, times.time(_day_start(oldest)), times.time(window_end))
                cursor.execute(sql.mark_documents, window * 4)
                outcome.marked = cursor.rowcount
                cursor.execute(sql.mark_points, window)
            cursor.execute(sql.delete_documents, expired)
            freed = [int(size) for (size,) in cursor.fetchall()]
            if freed:
                outcome.deleted_documents = len(freed)
                outcome.freed_bytes = sum(freed)
                cursor.execute(sql.release_bytes, (outcome.freed_bytes, connector_id))
            cursor.execute(sql.delete_events, (connector_id, times.time(now - rules.keep_audit)))
            outcome.deleted_events = max(cursor.rowcount, 0)
    return outcome


def _hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _day_start(moment: datetime) -> datetime:
    return max(EPOCH, moment.astimezone(UTC).replace(hour=0, minute=0, second=0,
                                                     microsecond=0))
