"""Veracity's production topology as real processes on loopback, from the deploy templates.

`production_topology(folder)` starts what docker-compose.yml runs, without Docker: PostgreSQL
(`PostgresCluster`), redis-server, two gunicorn instances (`LiveServer`, the production
gunicorn.conf.py, several sync workers each, sharing the database and Redis, trusting one
proxy) and nginx with the config rendered from deploy/nginx/veracity.conf.template by the same
function compose's `nginx-config` service runs. Every process is stopped on exit.

- `make_certificate(folder)` — a self-signed certificate for localhost/127.0.0.1 (openssl).
- `redis_process(port, log_path)` — a `ManagedProcess` for a private redis-server.
- `nginx_process(config_text, folder, port)` — a private nginx (`-p folder`, no daemon).
- `ProductionTopology` — `nginx_url`, `certificate`, `instances`, `postgres`, `database_url`,
  `access_log` (nginx's, one line per answer: `msec status method uri upstream ...`),
  `kill_instance(index)` (SIGKILL to its whole process group) and `restart_postgres()`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.nginx_config import render_nginx_config, server_body_limit
from tests.support.postgres import PostgresCluster
from tests.support.processes import ManagedProcess, free_port
from tests.support.server_fixtures import TEST_SECRET_KEY, LiveServer
from tests.support.system import require_executable

NGINX_SEARCH_PATHS = ("/usr/sbin",)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key): self-signed, for localhost and 127.0.0.1, valid a day."""
    openssl = require_executable("openssl", "openssl")
    certificate, key = folder / "veracity.pem", folder / "veracity.key"
    subprocess.run([str(openssl), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    return certificate, key


def _redis_answers(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def redis_process(port: int, log_path: Path) -> ManagedProcess:
    """A private redis-server on 127.0.0.1:`port`, nothing written to disk."""
    import redis

    server = require_executable("redis-server", "redis-server")
    return ManagedProcess(
        [str(server), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(log_path.parent)],
        log_path=log_path, ready_check=lambda: _redis_answers(port),
        ready_retry_on=(redis.RedisError,), name="redis-server")


def _accepts_connections(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


def nginx_process(config_text: str, folder: Path, port: int) -> ManagedProcess:
    """A private nginx serving `config_text` (which listens on `port`), prefix `folder`."""
    nginx = require_executable("nginx", "nginx", NGINX_SEARCH_PATHS)
    config = folder / "nginx.conf"
    config.write_text(config_text, encoding="utf-8")
    return ManagedProcess(
        [str(nginx), "-p", str(folder), "-c", str(config),
         "-g", f"daemon off; pid {folder / 'nginx.pid'};"],
        log_path=folder / "nginx.out", ready_check=lambda: _accepts_connections(port),
        ready_retry_on=(OSError,), stop_signal=signal.SIGQUIT, name="nginx")  # graceful


def buffer_folder() -> Path:
    """A folder nginx's workers can use for buffered bodies.

    Not under pytest's tmp_path: those folders are 0700 root, and nginx started as root runs
    its workers as `nobody`.
    """
    folder = Path(tempfile.mkdtemp(prefix="veracity-nginx-"))
    folder.chmod(0o755)
    return folder


@dataclass
class ProductionTopology:
    """The running processes and where to reach them."""

    nginx_url: str
    certificate: Path
    instances: list[LiveServer]
    postgres: PostgresCluster
    database_url: str
    redis_url: str
    access_log: Path
    nginx: ManagedProcess
    instance_env: dict[str, str] = field(repr=False, default_factory=dict)

    def upstream(self, index: int) -> str:
        """`127.0.0.1:<port>` of instance `index`, as nginx's access log names it."""
        return f"127.0.0.1:{self.instances[index].port}"

    def kill_instance(self, index: int) -> None:
        """SIGKILL gunicorn instance `index`: its master and every worker at once."""
        process = self.instances[index].process
        assert process is not None, f"instance {index} is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart_postgres(self) -> None:
        """Stop PostgreSQL (fast shutdown: clients cut off) and start it on the same port."""
        self.postgres.server.stop(timeout_s=15)
        self.postgres.server.start()


@contextlib.contextmanager
def production_topology(folder: Path, *, instances: int = 2, workers: int = 3,
                        env: Mapping[str, str] | None = None) -> Iterator[ProductionTopology]:
    """nginx → `instances` gunicorn instances → PostgreSQL + Redis, all on loopback."""
    from veracity_server.migrate import upgrade_database

    with contextlib.ExitStack() as stack:
        certificate, key = make_certificate(folder)
        postgres = PostgresCluster.start()
        stack.callback(postgres.stop)
        database_url = postgres.create_database()
        upgrade_database(database_url)

        redis_port = free_port()
        redis_server = redis_process(redis_port, folder / "redis.log")
        redis_server.start()
        stack.callback(redis_server.stop)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"

        port = free_port()  # nginx's, also the public address the instances are told
        # Production mode, everything it requires: the one proxy in front is nginx.
        instance_env = {
            "VERACITY_ENV": "production", "VERACITY_SECRET_KEY": TEST_SECRET_KEY,
            "VERACITY_INSTANCE_PATH": str(folder / "instance"), "REDIS_URL": redis_url,
            "VERACITY_TRUSTED_PROXIES": "1", "VERACITY_PUBLIC_URL": f"https://127.0.0.1:{port}",
            **(env or {})}
        servers = [LiveServer(port=free_port(), database_url=database_url, env=instance_env,
                              log_path=folder / f"gunicorn-{index + 1}.log", workers=workers)
                   for index in range(instances)]
        for server in servers:
            stack.callback(server.stop)
        # Side by side: each waits for its workers to import the app and answer /readyz.
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as starting:
            for started in [starting.submit(server.start) for server in servers]:
                started.result()

        nginx_folder = folder / "nginx"
        nginx_folder.mkdir()
        buffers = buffer_folder()
        stack.callback(shutil.rmtree, buffers, ignore_errors=True)
        config = render_nginx_config(
            listen=f"127.0.0.1:{port}", upstreams=[f"127.0.0.1:{s.port}" for s in servers],
            certificate=certificate, certificate_key=key,
            max_body_bytes=server_body_limit(instance_env),
            error_log=str(nginx_folder / "error.log"),
            access_log=str(nginx_folder / "access.log"), temp_dir=buffers,
            worker_processes="1")
        nginx = nginx_process(config, nginx_folder, port)
        nginx.start()
        stack.callback(nginx.stop)

        yield ProductionTopology(
            nginx_url=f"https://127.0.0.1:{port}", certificate=certificate, instances=servers,
            postgres=postgres, database_url=database_url, redis_url=redis_url,
            access_log=nginx_folder / "access.log", nginx=nginx, instance_env=instance_env)
