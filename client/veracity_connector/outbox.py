"""A persistent, bounded outbox for snapshots that Veracity has not accepted yet.

Every snapshot goes in here first and leaves only when Veracity answered (stored or duplicate),
so a snapshot taken while Veracity is down is delivered later, in the order taken. Nothing is
lost across restarts (SQLite in the user data folder, WAL) and nothing is delivered twice in a
way that matters: resending the same `snapshot_id` is idempotent on the server.

Bounded by count, bytes and age: when a bound is hit the oldest snapshots are dropped first,
each drop logged (with its id and time, never its content). Safe to use from several threads and
processes: every operation opens its own short connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id TEXT NOT NULL UNIQUE,
    taken_at TEXT NOT NULL,
    queued_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'snapshot'
);
CREATE TABLE IF NOT EXISTS refusals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    refused_at REAL NOT NULL,
    status INTEGER,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    body TEXT NOT NULL
);
"""
REFUSALS_KEPT = 20  # the newest refused snapshots, kept with Veracity's message for support
SNAPSHOT = "snapshot"  # an item's kind: a snapshot, sent to /snapshots
HISTORY = "history"  # a batch of daily history points, sent to the daily-history endpoint


@dataclass(frozen=True)
class OutboxItem:
    """One queued snapshot: its id, when it was taken, and the JSON body to send."""

    seq: int
    snapshot_id: str
    taken_at: str
    body: str
    kind: str = SNAPSHOT


@dataclass(frozen=True)
class Refusal:
    """A snapshot Veracity refused, and what it said (`status`, `code`, `message`)."""

    snapshot_id: str
    taken_at: str
    refused_at: float
    status: int | None
    code: str
    message: str


@dataclass(frozen=True)
class OutboxLimits:
    """How much the outbox may hold before dropping the oldest snapshots."""

    max_count: int = 1000
    max_bytes: int = 50 * 1024 * 1024
    max_age_s: float = 7 * 24 * 3600.0


class Outbox:
    """FIFO of snapshot bodies in a SQLite file."""

    def __init__(self, path: Path, limits: OutboxLimits | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.limits = limits or OutboxLimits()
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(outbox)")}
            if "kind" not in columns:  # an outbox written before history batches existed
                connection.execute(
                    "ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'snapshot'")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as connection:
            connection.execute("PRAGMA busy_timeout=30000")
            yield connection

    def put(self, snapshot_id: str, taken_at: str, body: str, kind: str = SNAPSHOT
            ) -> list[str]:
        """Queue a snapshot (a second put of the same id is ignored); returns ids dropped."""
        return self.put_many([(snapshot_id, taken_at, body)], kind)

    def put_many(self, items: list[tuple[str, str, str]], kind: str = SNAPSHOT) -> list[str]:
        """Queue (id, taken_at, body) items in one transaction: all of them or none."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT OR IGNORE INTO outbox (snapshot_id, taken_at, queued_at, size, body,"
                    " kind) VALUES (?, ?, ?, ?, ?, ?)",
                    [(item_id, taken_at, self._clock(), len(body.encode()), body, kind)
                     for item_id, taken_at, body in items])
                dropped = self._enforce_limits(connection)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        for dropped_id, dropped_taken_at, reason in dropped:
            logger.warning("outbox full (%s): dropped the oldest snapshot %s taken at %s",
                           reason, dropped_id, dropped_taken_at)
        return [item[0] for item in dropped]

    def _enforce_limits(self, connection: sqlite3.Connection) -> list[tuple[str, str, str]]:
        dropped: list[tuple[str, str, str]] = []
        oldest_allowed = self._clock() - self.limits.max_age_s
        for snapshot_id, taken_at in connection.execute(
                "SELECT snapshot_id, taken_at FROM outbox WHERE queued_at < ? ORDER BY seq",
                (oldest_allowed,)).fetchall():
            dropped.append((snapshot_id, taken_at, "older than the age limit"))
        connection.execute("DELETE FROM outbox WHERE queued_at < ?", (oldest_allowed,))
        while True:
            count, total = connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
            # Keep at least the newest snapshot even if it alone is over the byte limit.
            if count <= 1 or (count <= self.limits.max_count and total <= self.limits.max_bytes):
                return dropped
            seq, snapshot_id, taken_at = connection.execute(
                "SELECT seq, snapshot_id, taken_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
            connection.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            reason = "count limit" if count > self.limits.max_count else "size limit"
            dropped.append((snapshot_id, taken_at, reason))

    def oldest(self, limit: int = 1) -> list[OutboxItem]:
        """The oldest queued snapshots, in the order they were taken."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT seq, snapshot_id, taken_at, body, kind FROM outbox ORDER BY seq LIMIT ?",
                (limit,)).fetchall()
        return [OutboxItem(*row) for row in rows]

    def remove(self, snapshot_id: str) -> None:
        """Forget a snapshot Veracity has accepted."""
        with self._connect() as connection:
            connection.execute("DELETE FROM outbox WHERE snapshot_id = ?", (snapshot_id,))

    def refuse(self, item: OutboxItem, status: int | None, code: str, message: str) -> None:
        """Move a snapshot Veracity refused out of the queue into the (bounded) refusals."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "INSERT INTO refusals (snapshot_id, taken_at, refused_at, status, code,"
                    " message, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (item.snapshot_id, item.taken_at, self._clock(), status, code, message,
                     item.body))
                connection.execute("DELETE FROM outbox WHERE snapshot_id = ?",
                                   (item.snapshot_id,))
                connection.execute(
                    "DELETE FROM refusals WHERE seq NOT IN "
                    "(SELECT seq FROM refusals ORDER BY seq DESC LIMIT ?)", (REFUSALS_KEPT,))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def refusals(self, limit: int = REFUSALS_KEPT) -> list[Refusal]:
        """The newest refusals first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT snapshot_id, taken_at, refused_at, status, code, message FROM refusals"
                " ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [Refusal(*row) for row in rows]

    def count(self, kind: str | None = None) -> int:
        """How many items (of `kind`, or of any kind) are waiting."""
        with self._connect() as connection:
            if kind is None:
                return int(connection.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            return int(connection.execute("SELECT COUNT(*) FROM outbox WHERE kind = ?",
                                          (kind,)).fetchone()[0])

    def clear(self) -> int:
        """Drop everything (after unpairing: data must not go to another pairing)."""
        with self._connect() as connection:
            return connection.execute("DELETE FROM outbox").rowcount
