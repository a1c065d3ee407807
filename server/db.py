"""Engine and per-request session. SQLite gets WAL + busy_timeout; PostgreSQL uses psycopg 3.

`get_session()` returns the request's session (created on first use, closed at teardown);
`database(app)` returns the app's `Database` (engine + session factory) for CLI and tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

EXTENSION_KEY = "veracity_database"
# Writers queue on SQLite's single write lock; wait this long before reporting "locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True when this is the embedded SQLite database."""
        return self.engine.dialect.name == "sqlite"

    def ping(self) -> None:
        """Run a trivial query; raises when the database is unreachable."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


def make_engine(url: str) -> Engine:
    """An engine for `url` with the per-database settings this app relies on."""
    if url.startswith("sqlite"):
        database_path = url.split("///", 1)[1] if "///" in url else ""
        if database_path and database_path != ":memory:":
            Path(database_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL sync is durable across app crashes
    # (only an OS crash can lose the last commits), and much faster than FULL per commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_database(app: Flask, url: str) -> Database:
    """Create the app's Database and close each request's session at teardown."""
    database = Database(url)
    app.extensions[EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)
    return database


def database(app: Flask | None = None) -> Database:
    """The Database of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def get_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    return g.db_session  # type: ignore[no-any-return]


def _close_session(_error: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
