"""Engine and per-request session. SQLite gets WAL + busy_timeout; PostgreSQL uses psycopg 3.

`get_session()` returns the request's session (created on first use, closed at teardown);
`database(app)` returns the app's `Database` (engine + session factory) for CLI and tests.

The app's database work is bounded by `VERACITY_DATABASE_TIMEOUT_S`: PostgreSQL's
statement_timeout (lock waits included) and a connect timeout, SQLite's busy timeout and the
ingest write queue's wait. `is_database_unavailable(error)` says which failures mean "the
database is away or too slow" (answered 503 `database_unavailable`, see errors.py) rather
than a bug.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import select
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, exc, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from veracity_server import pg_direct

EXTENSION_KEY = "veracity_database"
# Without an app timeout (migrations, the CLI): how long SQLite waits for its write lock.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# libpq (and psycopg) treat connect timeouts below 2 s as 2 s.
MIN_CONNECT_TIMEOUT_S = 2
MAX_CONNECT_TIMEOUT_S = 5
# SQLite result codes (sqlite3.Error.sqlite_errorname) that mean "busy or away", not a bug.
SQLITE_UNAVAILABLE_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR",
                            "SQLITE_FULL", "SQLITE_INTERRUPT")


class WriteQueueTimeout(TimeoutError):
    """An ingest writer waited longer than the database timeout for SQLite's write queue."""


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, timeout_s: float | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, timeout_s)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_queue = (SqliteWriteQueue(self.engine.url.database, timeout_s)
                             if self.is_sqlite else None)
        # PostgreSQL: the heartbeat and snapshot routes' own pool, whose connections stay in
        # autocommit (see ingest_connection). Switching a shared connection into autocommit and
        # back on every request cost a fifth of a heartbeat's database time (measured with
        # benchmarks/ingest.py). SQLite, in-process, has no round trips to save.
        self._ingest_engine = (self.engine if self.is_sqlite
                               else make_engine(url, timeout_s, autocommit=True))

    def dispose(self) -> None:
        """Close every pooled connection (both pools on PostgreSQL)."""
        self.engine.dispose()
        if self._ingest_engine is not self.engine:
            self._ingest_engine.dispose()

    @contextlib.contextmanager
    def raw_connection(self) -> Iterator[Any]:
        """A pooled DB-API connection for the hot ingest path (cheaper than a Connection)."""
        connection = self.engine.raw_connection()
        try:
            yield connection
        finally:
            connection.close()  # back to the pool, rolled back if anything was left open

    @contextlib.contextmanager
    def ingest_connection(self) -> Iterator[Any]:
        """A pooled DB-API connection for the heartbeat and snapshot routes.

        On PostgreSQL it comes from a pool in autocommit mode: psycopg would otherwise send BEGIN
        and COMMIT as round trips of their own around each single statement (a heartbeat is
        one statement, a snapshot one statement built to be atomic by itself, see
        ingest/store.py), so every statement run on it must stand alone. SQLite, in-process,
        has no round trips to save and keeps its transactions.
        """
        connection = self._ingest_engine.raw_connection()
        try:
            yield connection
        finally:
            connection.close()  # back to its pool, rolled back if anything was left open

    def has_row(self, connection: Any, statement: str, parameters: tuple[str, ...]) -> bool:
        """True when the read `statement` (DB-API placeholders) finds a row on `connection`.

        On an ingest connection to PostgreSQL (autocommit), straight through libpq: the
        repeated heartbeat's one read, at a third of a cursor's CPU (pg_direct.py).
        """
        if not self.is_sqlite and connection.dbapi_connection.autocommit:
            return pg_direct.has_row(connection, statement, parameters)
        cursor = connection.cursor()
        try:
            cursor.execute(statement, parameters)
            found = cursor.fetchone() is not None
        finally:
            cursor.close()
        self.end_read(connection)
        return found

    def end_read(self, connection: Any) -> None:
        """End the transaction a read opened on `connection`, if the driver opened one: an
        ingest connection to PostgreSQL (autocommit) has none, and skips the call."""
        if self.is_sqlite or not connection.dbapi_connection.autocommit:
            connection.rollback()

    @contextlib.contextmanager
    def write_transaction(self, connection: Any) -> Iterator[Any]:
        """A cursor of `connection` in a write transaction, committed at the end of the block.

        On SQLite, writers first queue on a lock shared by every thread and worker process, so
        they never meet SQLite's own busy handler, which sleeps in steps of up to 100 ms and
        leaves the database idle meanwhile (measured: snapshot throughput fell to a third).
        """
        with contextlib.ExitStack() as stack:
            if self._write_queue is not None:
                stack.enter_context(self._write_queue)
            driver = connection.dbapi_connection
            # An ingest connection (autocommit): the block's statements still commit together,
            # in a transaction block of their own that commits or rolls back as it ends.
            in_block = not self.is_sqlite and driver.autocommit
            if in_block:
                stack.enter_context(driver.transaction())
            cursor = connection.cursor()
            try:
                yield cursor
                if not in_block:
                    connection.commit()
            except BaseException:
                if not in_block:
                    connection.rollback()
                raise
            finally:
                cursor.close()
        if self._write_queue is not None:
            self._write_queue.checkpoint_when_due(connection)

    @contextlib.contextmanager
    def one_statement(self, connection: Any) -> Iterator[Any]:
        """A cursor for exactly one write statement, committed when the block ends.

        On an ingest connection to PostgreSQL (autocommit) the statement commits by itself:
        one round trip, no BEGIN or COMMIT. Elsewhere it is a `write_transaction`.
        """
        driver = connection.dbapi_connection
        if self.is_sqlite or not driver.autocommit:
            with self.write_transaction(connection) as cursor:
                yield cursor
            return
        cursor = connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    @property
    def is_sqlite(self) -> bool:
        """True when this is the embedded SQLite database."""
        return self.engine.dialect.name == "sqlite"

    def ping(self) -> None:
        """Run a trivial query; raises when the database is unreachable."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


class SqliteWriteQueue:
    """An exclusive lock for SQLite writers: a thread lock, then flock on a file beside the DB.

    It also checkpoints the WAL, outside the lock: SQLite's own automatic checkpoint runs inside
    the commit that pushes the WAL past 1000 pages, i.e. while this lock is held, and its fsync
    (measured: 13-22 ms on our machines) then stalls every other writer. Checkpointing every
    CHECKPOINT_EVERY_COMMITS commits keeps the WAL below that mark, so the automatic one stays a
    fallback for writes that do not come through here.
    """

    # A snapshot of 50 positions adds ~10 pages: 50 commits stay well below 1000 pages.
    CHECKPOINT_EVERY_COMMITS = 50

    # A waiting writer polls the file lock (flock has no timeout) from this interval up to the
    # longest one: short enough that the database is not left idle between writers (the lock
    # is held ~0.5-1 ms per snapshot), long enough not to burn the holder's CPU.
    FIRST_POLL_S = 0.0001
    LONGEST_POLL_S = 0.002

    def __init__(self, database_path: str | None, timeout_s: float | None = None) -> None:
        self._timeout_s = timeout_s if timeout_s is not None else SQLITE_BUSY_TIMEOUT_MS / 1000
        self._thread_lock = threading.Lock()
        self._lock_path = (Path(database_path + ".write-lock")
                           if database_path and database_path != ":memory:" else None)
        self._descriptor: int | None = None
        self._commits_since_checkpoint = 0

    def checkpoint_when_due(self, connection: Any) -> None:
        """After a commit, with the lock released: copy the WAL back every so many commits.

        PASSIVE never waits for readers or writers; pages it cannot copy yet are left for the
        next round. A failure costs nothing but a longer WAL, so it never fails the request.
        """
        self._commits_since_checkpoint += 1  # a lost update between threads only shifts a round
        if self._commits_since_checkpoint < self.CHECKPOINT_EVERY_COMMITS:
            return
        self._commits_since_checkpoint = 0
        with contextlib.suppress(sqlite3.Error):
            cursor = connection.cursor()
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                cursor.close()

    def __enter__(self) -> None:
        # Bounded like SQLite's own busy wait: a queue behind a slow writer (or an outside one
        # holding SQLite's lock) answers 503 instead of holding every worker in turn.
        deadline = time.monotonic() + self._timeout_s
        if not self._thread_lock.acquire(timeout=self._timeout_s):
            raise WriteQueueTimeout(f"waited {self._timeout_s:g} s for the write queue")
        if self._lock_path is None:
            return
        try:
            if self._descriptor is None:
                self._descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_file(self._descriptor, deadline)
        except BaseException:
            self._thread_lock.release()
            raise

    def _lock_file(self, descriptor: int, deadline: float) -> None:
        poll_s = self.FIRST_POLL_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WriteQueueTimeout(
                        f"waited {self._timeout_s:g} s for the write queue") from None
                time.sleep(min(poll_s, remaining))
                poll_s = min(poll_s * 2, self.LONGEST_POLL_S)

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._descriptor is not None:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def make_engine(url: str, timeout_s: float | None = None, autocommit: bool = False) -> Engine:
    """An engine for `url` with the per-database settings this app relies on.

    `timeout_s` bounds each statement and lock wait (the app passes its setting); None leaves
    statements unbounded (migrations) and SQLite's busy wait at its default. `autocommit`
    (PostgreSQL): its connections run each statement as its own transaction.
    """
    if url.startswith("sqlite"):
        database_path = make_url(url).database
        if database_path and database_path != ":memory:":
            Path(database_path).parent.mkdir(parents=True, exist_ok=True)
        busy_timeout_ms = (round(timeout_s * 1000) if timeout_s is not None
                           else SQLITE_BUSY_TIMEOUT_MS)
        engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})
        event.listen(engine, "connect",
                     lambda connection, _record: _configure_sqlite_connection(
                         connection, busy_timeout_ms))
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": MAX_CONNECT_TIMEOUT_S}
    if timeout_s is not None:
        connect_args["connect_timeout"] = min(MAX_CONNECT_TIMEOUT_S, max(
            MIN_CONNECT_TIMEOUT_S, math.ceil(timeout_s)))
        # statement_timeout covers lock waits too; a server restarted or away answers at once.
        connect_args["options"] = f"-c statement_timeout={round(timeout_s * 1000)}"
    engine = create_engine(url, pool_size=5, max_overflow=5,
                           pool_timeout=timeout_s if timeout_s is not None else 30,
                           connect_args=connect_args,
                           isolation_level="AUTOCOMMIT" if autocommit else None,
                           # Autocommit leaves no transaction open to roll back on return.
                           pool_reset_on_return=None if autocommit else "rollback")
    event.listen(engine, "checkout", _refuse_a_closed_connection)
    return engine


def _refuse_a_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no pooled connection the server has closed, without a round trip to ask.

    An idle connection has nothing to read; when PostgreSQL ends it (a restart, a terminated
    backend, an idle timeout) its socket becomes readable: the server's last message, then the
    end of the stream. The pool then drops it and checks out another (SQLAlchemy's
    DisconnectionError protocol). This replaces `pool_pre_ping`, whose SELECT was a round trip
    on every request (measured: a quarter of a PostgreSQL heartbeat's time). A connection
    silently cut off by the network is not seen here, nor was it by the ping: both end at the
    connect and statement timeouts.
    """
    if dbapi_connection.closed:
        raise exc.DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise exc.DisconnectionError("the server has ended the connection")


def _configure_sqlite_connection(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL sync is durable across app crashes
    # (only an OS crash can lose the last commits), and much faster than FULL per commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error` means the database is away, restarting or too slow (not a bug).

    PostgreSQL: every operational error (refused or lost connection, server shutting down or
    starting up, statement_timeout) and a pool that had no connection to give in time.
    SQLite: busy/locked past the busy timeout, the write queue's timeout, an unreadable file;
    not its other OperationalErrors, which are SQL mistakes ("no such table").
    """
    for cause in (error, error.__cause__, error.__context__):
        if cause is None:
            continue
        if isinstance(cause, exc.TimeoutError | WriteQueueTimeout | psycopg.OperationalError):
            return True
        if isinstance(cause, exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, exc.OperationalError) and cause.orig is not None and \
                cause.orig is not cause and is_database_unavailable(cause.orig):
            return True
        if isinstance(cause, sqlite3.OperationalError) and str(
                getattr(cause, "sqlite_errorname", "")).startswith(SQLITE_UNAVAILABLE_CODES):
            return True
    return False


def init_database(app: Flask, url: str, timeout_s: float | None = None) -> Database:
    """Create the app's Database and close each request's session at teardown."""
    database = Database(url, timeout_s)
    app.extensions[EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)
    return database


def database(app: Flask | None = None) -> Database:
    """The Database of `app` (default: the current app)."""
    found: Database = (app or current_app).extensions[EXTENSION_KEY]
    return found


def get_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    session: Session = g.db_session
    return session


def _close_session(_error: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
