"""A throwaway PostgreSQL server for tests, from Debian's packages, as the `postgres` user.

`PostgresCluster.start()` runs initdb + postgres (trust auth on 127.0.0.1, a free port,
fsync off: test data need not survive a power cut) in a folder the `postgres` user owns;
`create_database()` makes a fresh database per test (cheap: CREATE DATABASE ... TEMPLATE);
`stop()` shuts it down and removes the folder. Missing PostgreSQL → `missing_system_part`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.support.processes import ManagedProcess, free_port
from tests.support.system import missing_system_part

POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                     "/usr/lib/postgresql/17/bin")
SUPERUSER = "postgres"
START_TIMEOUT_S = 30.0


def find_postgres_bin() -> Path | None:
    """The folder with initdb and postgres, if PostgreSQL is installed."""
    for folder in POSTGRES_BIN_DIRS:
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _postgres_user_ids() -> tuple[int, int] | None:
    import pwd

    try:
        entry = pwd.getpwnam(SUPERUSER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; when we are not root we already are someone else.
    return ["runuser", "-u", SUPERUSER, "--", *command] if os.geteuid() == 0 else command


def _dsn(port: int, database: str) -> str:
    return f"host=127.0.0.1 port={port} user={SUPERUSER} dbname={database}"


def _accepts_connections(port: int) -> bool:
    with psycopg.connect(_dsn(port, "postgres"), connect_timeout=2):
        return True


class PostgresCluster:
    """One running PostgreSQL server on 127.0.0.1:<port>."""

    def __init__(self, data_dir: Path, port: int, server: ManagedProcess) -> None:
        self.data_dir = data_dir
        self.port = port
        self.server = server
        self._names = itertools.count(1)
        self._templates: dict[str, str] = {}

    @classmethod
    def start(cls) -> PostgresCluster:
        """initdb + start a server in a new temporary folder; skip/fail without PostgreSQL."""
        bin_dir = find_postgres_bin()
        ids = _postgres_user_ids()
        if bin_dir is None or (os.geteuid() == 0 and ids is None):
            missing_system_part("PostgreSQL server", "apt-get install postgresql")
            raise AssertionError("unreachable")
        # Not under pytest's tmp_path: its folders are 0700 root, which `postgres` cannot enter.
        base_dir = Path(tempfile.mkdtemp(prefix="veracity-pg-"))
        data_dir = base_dir / "pgdata"
        if os.geteuid() == 0 and ids is not None:
            os.chown(base_dir, *ids)
        initdb = subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data_dir),
                                              "-A", "trust", "-U", SUPERUSER, "--no-sync",
                                              "-E", "UTF8", "--locale", "C"]),
                       capture_output=True, cwd=base_dir, check=False)
        if initdb.returncode != 0:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise RuntimeError("initdb failed:\n" + initdb.stdout.decode(errors="replace")
                               + initdb.stderr.decode(errors="replace"))
        port = free_port()
        server = ManagedProcess(
            _as_postgres([str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port),
                          "-h", "127.0.0.1", "-k", str(base_dir), "-F",
                          "-c", "max_connections=300", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off"]),
            cwd=base_dir, log_path=base_dir / "postgres.log",
            ready_check=lambda: _accepts_connections(port),
            ready_retry_on=(psycopg.OperationalError,), ready_timeout_s=START_TIMEOUT_S,
            stop_signal=signal.SIGINT, name="postgres")  # SIGINT: fast shutdown
        try:
            server.start()
        except RuntimeError:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise
        return cls(data_dir, port, server)

    def dsn(self, database: str) -> str:
        """A libpq connection string for `database`."""
        return _dsn(self.port, database)

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3) for `database`."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _execute(self, statement: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        """A new empty (or template-copied) database; returns its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        suffix = f" TEMPLATE {template}" if template else ""
        self._execute(f"CREATE DATABASE {name}{suffix}")
        return self.url(name)

    def template(self, key: str, prepare: Callable[[str], None]) -> str:
        """A template database made once by `prepare(url)` (e.g. migrated), for fast copies."""
        if key not in self._templates:
            name = f"template_{key}"
            self._execute(f"CREATE DATABASE {name}")
            prepare(self.url(name))
            self._templates[key] = name
        return self._templates[key]

    def stop(self) -> None:
        """Fast shutdown (disconnect clients), then remove the data folder."""
        self.server.stop(timeout_s=15)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
