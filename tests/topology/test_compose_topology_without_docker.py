"""The docker-compose topology, run as local processes: the services' own commands and settings.

Each service's command and environment come from docker-compose.yml itself (volumes become
folders in tmp_path, PostgreSQL/Redis are swapped for SQLite/in-memory limits in development
mode), so this proves the compose wiring works end to end: the `certs` script's certificate,
`veracity-setup`'s migration, user and token, a gunicorn instance, `nginx-config`'s rendering of
the nginx template (TLS with that certificate), the simulator, and the connector pairing itself
from the shared token and syncing to Veracity through nginx over https, trusting the certificate
through REQUESTS_CA_BUNDLE while talking to the gateway on loopback.
tests/topology/test_production_topology.py runs the production shape itself (two instances,
PostgreSQL, Redis) with faults and load.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ibkr_gateway_sim.control import SimulatorControl
from tests.support.processes import ManagedProcess, free_port, running_process
from tests.support.system import require_executable
from tests.support.topology import buffer_folder, nginx_process
from tests.support.waiting import wait_until
from tests.topology.compose_file import (
    REPO_ROOT,
    environment,
    service,
    service_environment,
    shell_command,
)

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "topology-test-password"


class _Stopping:
    """Start a ManagedProcess now, stop it at close() (for contextlib.closing)."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process
        process.start()

    def close(self) -> None:
        self.process.stop()


def _venv_path() -> str:
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _wait_for_accounts(session: requests.Session, url: str, verify: str, count: int,
                       timeout_s: float) -> dict:
    shown: dict = {}

    def portfolio() -> dict | None:
        answer = session.get(url, verify=verify, timeout=10)
        if answer.status_code == 200:
            shown.update(answer.json())
        return shown if len(shown.get("accounts", [])) == count else None

    return wait_until(portfolio, timeout_s,
                      lambda: f"Veracity to show {count} accounts (it showed {shown})",
                      interval_s=1)


@pytest.fixture
def buffers() -> Iterator[Path]:
    """nginx's folder for buffered bodies, removed afterwards."""
    folder = buffer_folder()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_compose_services_run_as_processes_pair_and_sync_over_tls(tmp_path: Path,
                                                                  buffers: Path) -> None:
    require_executable("openssl", "openssl")
    volumes = {name: tmp_path / name for name in ("certs", "shared", "data")}
    for folder in volumes.values():
        folder.mkdir()
    moved = {"/certs": volumes["certs"], "/shared": volumes["shared"], "/data": volumes["data"]}
    database_url = f"sqlite:///{tmp_path / 'veracity.sqlite'}"
    base_env = {**os.environ, "PATH": _venv_path()}
    base_env.pop("VERACITY_CONNECTOR_KEY", None)

    # certs: the development certificate and Flask secret.
    subprocess.run(["sh", "-c", shell_command("certs", moved)], check=True, env=base_env,
                   capture_output=True)
    certificate = volumes["certs"] / "veracity.pem"
    assert certificate.read_text().startswith("-----BEGIN CERTIFICATE-----")

    # veracity-setup: migrate, create the demo user, issue the pairing token into /shared.
    instance = service("veracity-1")
    server_env = {**base_env, **service_environment("veracity-1"),
                  "DATABASE_URL": database_url, "VERACITY_ENV": "development"}
    server_env["VERACITY_SECRET_KEY_FILE"] = str(volumes["certs"] / "flask-secret")
    server_env.pop("REDIS_URL")
    setup_env = {**server_env, **environment("veracity-setup", moved),
                 "DATABASE_URL": database_url, "VERACITY_USER_PASSWORD": DEMO_PASSWORD,
                 "VERACITY_ENV": "development"}
    setup_env.pop("REDIS_URL")
    subprocess.run(["sh", "-c", shell_command("veracity-setup", moved)], check=True,
                   env=setup_env, cwd=REPO_ROOT, capture_output=True)
    assert (volumes["shared"] / "pairing-token").read_text().startswith("vct_")

    veracity_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
    server_command = list(instance["command"])
    # nginx-config's own command, with loopback addresses and folders instead of Compose's.
    nginx_folder = tmp_path / "nginx"
    replacements = {"0.0.0.0:8443": f"127.0.0.1:{nginx_port}",
                    "veracity-1:8000": f"127.0.0.1:{veracity_port}",
                    "veracity-2:8000": f"127.0.0.1:{veracity_port}",
                    "/var/cache/nginx": str(buffers),
                    "/nginx/nginx.conf": str(nginx_folder / "nginx.conf")}
    render = [replacements.get(word, word.replace("/certs", str(volumes["certs"])))
              for word in service("nginx-config")["command"]]
    assert render[:2] == ["python", "deploy/nginx_config.py"]
    subprocess.run([sys.executable, *render[1:]], check=True, cwd=REPO_ROOT, env=server_env,
                   capture_output=True)
    # Logs to nginx's output (compose: the container's); a private nginx writes its own files.
    config = (nginx_folder / "nginx.conf").read_text().replace(
        "/dev/stderr", str(nginx_folder / "error.log")).replace(
        "/dev/stdout", str(nginx_folder / "access.log"))
    server_env.update({"VERACITY_BIND": f"127.0.0.1:{veracity_port}", "WEB_CONCURRENCY": "2",
                       # the compose intervals, compressed so the test sees a sync quickly
                       "VERACITY_HEARTBEAT_INTERVAL_S": "2", "VERACITY_SNAPSHOT_INTERVAL_S": "5"})
    gateway_command = [sys.executable, "-m", "ibkr_gateway_sim",
                       *service("gateway-sim")["command"][1:]]
    gateway_command[gateway_command.index("--port") + 1] = str(gateway_port)
    gateway_command[gateway_command.index("--host") + 1] = "127.0.0.1"
    veracity_url = f"https://localhost:{nginx_port}"
    nginx = nginx_process(config, nginx_folder, nginx_port)

    with (running_process([sys.executable, "-m", *server_command], env=server_env,
                          cwd=REPO_ROOT, log_path=tmp_path / "veracity.log",
                          ready_url=f"http://127.0.0.1:{veracity_port}/readyz"),
          contextlib.closing(_Stopping(nginx)),
          running_process(gateway_command, log_path=tmp_path / "gateway.log",
                          ready_url=f"https://127.0.0.1:{gateway_port}/sim/state",
                          verify=False)):
        connector_env = {**base_env, **environment("connector", moved),
                         "VERACITY_URL": veracity_url,
                         "IBKR_GATEWAY_URL": f"https://127.0.0.1:{gateway_port}"}
        with running_process(["sh", "-c", shell_command("connector", moved)],
                             env=connector_env, log_path=tmp_path / "connector.log"):
            session = requests.Session()
            login = session.post(f"{veracity_url}/api/v1/session", verify=str(certificate),
                                 json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD},
                                 timeout=10)
            assert login.status_code == 200, login.text
            portfolio = _wait_for_accounts(
                session, f"{veracity_url}/api/v1/profile/ibkr/portfolio", str(certificate),
                count=3, timeout_s=90)

        control = SimulatorControl(f"https://127.0.0.1:{gateway_port}")
        try:
            gateway_state = control.state()
        finally:
            control.close()
    expected = {account["account_id"] for account in gateway_state["accounts"]}
    assert {account["account_id"] for account in portfolio["accounts"]} == expected
    # The key was kept in the connector's data volume, readable only by its owner.
    key_file = volumes["data"] / "data" / "connector-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    settings_file = volumes["data"] / "config" / "settings.json"
    assert not settings_file.exists() or "vck_" not in settings_file.read_text()
