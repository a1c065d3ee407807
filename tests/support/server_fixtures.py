"""Fixtures and helpers for tests that need the Veracity server (pytest plugin, loaded by
tests/conftest.py).

Databases (each test gets a fresh, migrated one):
- `database_url` — parametrized: every test using it (or `app`/`client`) runs twice, on SQLite
  (id `sqlite`) and on a real PostgreSQL (id `postgresql`, marker `postgres`).
- `sqlite_database_url`, `postgres_database_url` — one database kind only.
- `postgres_cluster` (session) — the `tests.support.postgres.PostgresCluster` behind them.

In-process app (Flask test client, real routing and database):
- `app` / `client` — `create_app` on `database_url` with `TEST_SETTINGS`.
- `make_app(**settings)` fixture — another app on the same database with settings overridden
  (environment-style names, e.g. `make_app(VERACITY_PAIRING_TOKEN_TTL_S=10)`).
- Helpers: `create_user(app, email, password)`, `issue_token(app, email, ttl_s=None) -> str`,
  `login(client, email, password) -> csrf_token`, `pair(client, token) -> (connector_id, key)`,
  `snapshot_body(...)` (a valid snapshot with N positions and M stop orders).

Live server (gunicorn with the production config, `gunicorn.conf.py`, on a free loopback port):
- `start_live_server(tmp_path, port=None, database_url=None, env=None, workers=2)` — context
  manager yielding a `LiveServer`; SQLite file in `tmp_path` unless `database_url` is given
  (it is migrated first). `LiveServer.stop()` then `.start()` restarts it on the SAME port and
  database (for "server down, snapshots arrive later" tests).
- `live_server` fixture — one on SQLite for the test.
- `LiveServer`: `base_url`, `database_url`, `port`, `log_path`, `url(path)`,
  `create_user(email, password)`, `issue_token(email, ttl_s=None) -> str`,
  `login(email, password) -> requests.Session` (cookie + X-CSRF-Token header set),
  `pair(email, hostname=...) -> (connector_id, connector_key)`.
Rate limits on the live server default to 600/minute (6000 for a connector's snapshots and
heartbeats) so repeated pairing and sending in tests is not refused; pass
`env={"VERACITY_EXCHANGE_RATE_LIMIT": "3 per minute"}` to test them.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.support.postgres import PostgresCluster
from tests.support.processes import ManagedProcess, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-the-settings-check"
TEST_SETTINGS: dict[str, Any] = {
    "TESTING": True,
    "VERACITY_ENV": "development",
    "VERACITY_SECRET_KEY": TEST_SECRET_KEY,
    "VERACITY_SECRET_KEY_FILE": None,
    "VERACITY_LOGIN_RATE_LIMIT": "600 per minute",
    "VERACITY_EXCHANGE_RATE_LIMIT": "600 per minute",
    # Tests send many snapshots with one key; tests/server/test_limits.py sets its own.
    "VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE": 6000,
    "VERACITY_LIMIT_HEARTBEATS_PER_MINUTE": 6000,
    "REDIS_URL": None,
}
DEFAULT_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2 at its cheapest in this process: the production profile costs ~0.5 s a hash on a
    busy 2-core machine. Live servers keep the real profile (they only verify, and verification
    follows the parameters stored in each hash)."""
    import argon2

    from veracity_server import credentials

    original = credentials._password_hasher
    credentials._password_hasher = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
    yield
    credentials._password_hasher = original


# --- databases -------------------------------------------------------------------------------

def _migrate(url: str) -> None:
    from veracity_server.migrate import upgrade_database

    upgrade_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole session."""
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sqlite_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database."""
    path = tmp_path / "veracity.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_database_url(postgres_cluster: PostgresCluster) -> str:
    """A fresh migrated PostgreSQL database."""
    return postgres_cluster.create_database(postgres_cluster.template("migrated", _migrate))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database: SQLite, then PostgreSQL."""
    name = "sqlite_database_url" if request.param == "sqlite" else "postgres_database_url"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


# --- in-process app --------------------------------------------------------------------------

@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test's database; settings as keyword arguments override TEST_SETTINGS."""
    from veracity_server.db import database

    apps: list[Flask] = []

    def build(**settings: Any) -> Flask:
        from veracity_server.app import create_app

        config = {**TEST_SETTINGS, "DATABASE_URL": database_url,
                  "VERACITY_INSTANCE_PATH": str(tmp_path / "instance"), **settings}
        built = create_app(config)
        apps.append(built)
        return built

    yield build
    for built in apps:
        database(built).dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The server app on a fresh database (SQLite, then PostgreSQL)."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client of `app`."""
    return app.test_client()


def create_user(app: Flask, email: str, password: str = DEFAULT_PASSWORD) -> int:
    """Create a user directly in the app's database; returns its id."""
    from veracity_server.db import database
    from veracity_server.users import create_user as create

    with database(app).sessions() as session:
        return create(session, email, password).id


def issue_token(app: Flask, email: str, ttl_s: int | None = None) -> str:
    """A fresh pairing token for the user with `email`."""
    from veracity_server.db import database
    from veracity_server.pairing.service import issue_pairing_token
    from veracity_server.users import find_user

    settings = app.extensions["veracity_settings"]
    ttl = ttl_s if ttl_s is not None else settings.pairing_token_ttl_s
    with database(app).sessions() as session:
        user = find_user(session, email)
        assert user is not None, f"no user {email}"
        return issue_pairing_token(session, user.id, ttl,
                                   max_valid=settings.pairing_tokens_per_user)[0]


def login(client: FlaskClient, email: str, password: str = DEFAULT_PASSWORD) -> str:
    """Log the test client in; returns the CSRF token for unsafe requests."""
    response = client.post("/api/v1/session", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["csrf_token"]  # type: ignore[no-any-return]


def pair(client: FlaskClient, token: str, hostname: str = "trader-pc") -> tuple[str, str]:
    """Exchange `token`; returns (connector_id, connector_key)."""
    response = client.post("/api/v1/connector/exchange", json={
        "token": token,
        "device": {"hostname": hostname, "platform": "Windows-11", "connector_version": "1.0.0"}})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["connector_id"], body["connector_key"]


def snapshot_body(positions: int = 3, stop_orders: int = 2, accounts: int = 1,
                  taken_at: datetime | None = None, snapshot_id: str | None = None,
                  net_liquidation: str = "100000.5000") -> dict[str, Any]:
    """A valid snapshot: decimals as strings, every optional field filled."""
    moment = taken_at or datetime.now(UTC)
    return {
        "snapshot_id": snapshot_id or str(uuid.uuid4()),
        "taken_at": moment.isoformat().replace("+00:00", "Z"),
        "accounts": [{
            "account_id": f"U{1000000 + index}",
            "base_currency": "USD",
            "net_liquidation": net_liquidation,
            "cash": "2500.2500",
            "positions": [{
                "conid": 265598 + number, "symbol": f"SYM{number}",
                "description": f"Company {number} Inc", "asset_class": "STK",
                "quantity": f"{100 + number}", "market_price": "187.1200",
                "market_value": f"{(100 + number) * 187.12:.4f}", "average_cost": "150.337512",
                "unrealized_pnl": "3678.4800", "currency": "USD", "multiplier": None,
            } for number in range(positions)],
            "stop_orders": [{
                "order_id": f"{1500000 + number}", "conid": 265598 + number,
                "symbol": f"SYM{number}", "side": "SELL", "order_type": "STP",
                "quantity": f"{100 + number}", "stop_price": "170.0500", "limit_price": None,
                "trailing_amount": None, "trailing_unit": None, "time_in_force": "GTC",
                "status": "PreSubmitted",
            } for number in range(stop_orders)],
        } for index in range(accounts)],
    }


# --- live server (gunicorn) ------------------------------------------------------------------

@dataclass
class LiveServer:
    """A gunicorn process serving the app; stop() and start() keep port and database."""

    port: int
    database_url: str
    env: dict[str, str]
    log_path: Path
    workers: int = 2
    gunicorn: ManagedProcess | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of `path` on this server."""
        return self.base_url + path

    def start(self) -> None:
        """Start gunicorn (production config) and wait until /readyz answers."""
        if self.gunicorn is None:
            self.gunicorn = ManagedProcess(
                [sys.executable, "-m", "gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py")],
                env={**self.env, "VERACITY_BIND": f"127.0.0.1:{self.port}",
                     "WEB_CONCURRENCY": str(self.workers), "DATABASE_URL": self.database_url},
                cwd=REPO_ROOT, log_path=self.log_path, ready_url=self.url("/readyz"),
                name="gunicorn")
        self.gunicorn.start()

    def stop(self) -> None:
        """Stop gunicorn (all workers)."""
        if self.gunicorn is not None:
            self.gunicorn.stop()

    @property
    def process(self) -> subprocess.Popen | None:
        """gunicorn's master process while it runs."""
        return self.gunicorn.process if self.gunicorn else None

    def _app(self) -> Flask:
        from veracity_server.app import create_app

        return create_app({**TEST_SETTINGS, **self.env, "DATABASE_URL": self.database_url})

    def create_user(self, email: str, password: str = DEFAULT_PASSWORD) -> int:
        """Create a user in the server's database; returns its id."""
        from veracity_server.db import database

        app = self._app()
        try:
            return create_user(app, email, password)
        finally:
            database(app).dispose()

    def issue_token(self, email: str, ttl_s: int | None = None) -> str:
        """A fresh pairing token for `email` (as `veracity-server issue-token` makes)."""
        from veracity_server.db import database

        app = self._app()
        try:
            return issue_token(app, email, ttl_s)
        finally:
            database(app).dispose()

    def login(self, email: str, password: str = DEFAULT_PASSWORD) -> requests.Session:
        """A requests.Session logged in as `email`, X-CSRF-Token header set."""
        session = requests.Session()
        response = session.post(self.url("/api/v1/session"),
                                json={"email": email, "password": password}, timeout=10)
        response.raise_for_status()
        session.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return session

    def pair(self, email: str, hostname: str = "trader-pc") -> tuple[str, str]:
        """Issue a token for `email` and exchange it; returns (connector_id, connector_key)."""
        response = requests.post(self.url("/api/v1/connector/exchange"), json={
            "token": self.issue_token(email),
            "device": {"hostname": hostname, "platform": "Windows-11",
                       "connector_version": "1.0.0"}}, timeout=10)
        response.raise_for_status()
        body = response.json()
        return body["connector_id"], body["connector_key"]


@contextlib.contextmanager
def start_live_server(tmp_path: Path, port: int | None = None, database_url: str | None = None,
                      env: Mapping[str, str] | None = None,
                      workers: int = 2) -> Iterator[LiveServer]:
    """Run the server under gunicorn on loopback for the `with` block (see module docstring)."""
    url = database_url or f"sqlite:///{tmp_path / 'live-server.sqlite3'}"
    _migrate(url)
    settings = {"VERACITY_ENV": "development", "VERACITY_SECRET_KEY": TEST_SECRET_KEY,
                "VERACITY_INSTANCE_PATH": str(tmp_path / "instance"),
                "VERACITY_LOGIN_RATE_LIMIT": "600 per minute",
                "VERACITY_EXCHANGE_RATE_LIMIT": "600 per minute",
                "VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE": "6000",
                "VERACITY_LIMIT_HEARTBEATS_PER_MINUTE": "6000", **(env or {})}
    server = LiveServer(port=port or free_port(), database_url=url, env=settings,
                        log_path=tmp_path / "gunicorn.log", workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A gunicorn server on SQLite for this test."""
    with start_live_server(tmp_path) as server:
        yield server
