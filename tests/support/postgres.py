"""A throwaway PostgreSQL server for tests, from Debian's packages, as the `postgres` user.

`PostgresCluster.start()` runs initdb + postgres (trust auth on 127.0.0.1, a free port,
fsync off: test data need not survive a power cut) in a folder the `postgres` user owns;
`create_database()` makes a fresh database per test (cheap: CREATE DATABASE ... TEMPLATE);
`stop()` shuts it down and removes the folder. Missing PostgreSQL → `missing_system_part`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.support.processes import free_port
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


class PostgresCluster:
    """One running PostgreSQL server on 127.0.0.1:<port>."""

    def __init__(self, data_dir: Path, port: int, process: subprocess.Popen) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process = process
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
        log_file = open(base_dir / "postgres.log", "ab")  # noqa: SIM115 — closed in stop()
        process = subprocess.Popen(
            _as_postgres([str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port),
                          "-h", "127.0.0.1", "-k", str(base_dir), "-F",
                          "-c", "max_connections=300", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off"]),
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, cwd=base_dir)
        log_file.close()
        cluster = cls(data_dir, port, process)
        cluster._wait_until_ready(base_dir / "postgres.log")
        return cluster

    def _wait_until_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited:\n" + log_path.read_text(errors="replace"))
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("postgres did not accept connections:\n" + log_path.read_text())

    def dsn(self, database: str) -> str:
        """A libpq connection string for `database`."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

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
        """Fast shutdown (SIGINT: disconnect clients), then remove the data folder."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
