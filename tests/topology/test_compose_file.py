"""docker-compose.yml stays valid and in step with the code it runs (no Docker engine needed)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.system import require_executable
from tests.topology.compose_file import COMPOSE_FILE, REPO_ROOT, load_compose

OUR_SCRIPTS = ("veracity-server", "ibkr-connector", "ibkr-gateway-sim", "gunicorn")
# Variables read by programs that are not ours (images, libraries) — everything else must be
# read somewhere in our code, so a renamed setting cannot leave the topology silently stale.
FOREIGN_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "REQUESTS_CA_BUNDLE"}


def test_compose_file_is_valid_for_docker_compose() -> None:
    docker_compose = require_executable("docker-compose", "docker-compose")
    result = subprocess.run([str(docker_compose), "-f", str(COMPOSE_FILE), "config", "-q"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _commands_of_our_programs() -> list[list[str]]:
    """Every invocation of one of our programs in the compose file, as argument lists."""
    found: list[list[str]] = []
    for definition in load_compose()["services"].values():
        command = definition.get("command")
        if not command:
            continue
        if definition.get("entrypoint") == ["sh", "-c"]:
            script = command[0]
            for match in re.finditer(rf"\b({'|'.join(OUR_SCRIPTS)})\b([^;|&<>]*)", script):
                found.append([match.group(1), *match.group(2).split()])
        elif command[0] in OUR_SCRIPTS:
            found.append(list(command))
    return found


def test_every_program_the_compose_file_runs_exists() -> None:
    scripts = {name: part for part in ("client", "server", "simulator")
               for name in tomllib.loads((REPO_ROOT / part / "pyproject.toml").read_text())[
                   "project"]["scripts"]}
    commands = _commands_of_our_programs()
    assert {command[0] for command in commands} >= {"veracity-server", "ibkr-connector",
                                                   "ibkr-gateway-sim", "gunicorn"}
    for command in commands:
        if command[0] == "gunicorn":
            continue
        assert command[0] in scripts, f"{command[0]} is no console script of the parts"


@pytest.mark.parametrize("command", _commands_of_our_programs(), ids=" ".join)
def test_every_subcommand_and_option_the_compose_file_uses_is_accepted(
        command: list[str], tmp_path: Path) -> None:
    """Ask each program's own parser: `--help` after the arguments proves the subcommand and
    options exist; gunicorn loads its config and the app with --check-config."""
    program, arguments = command[0], command[1:]
    if program == "gunicorn":
        # The certificate files exist only inside Compose (made by the `certs` service).
        arguments = [a for a in arguments if a not in {"--certfile", "--keyfile"}
                     and not a.startswith("/certs/")]
        invocation = [sys.executable, "-m", "gunicorn", "--check-config", *arguments]
        # Development mode: production's Redis and PostgreSQL are not needed to load the app.
        env = {"VERACITY_SECRET_KEY": "x" * 40, "PATH": "/usr/bin:/bin",
               "VERACITY_ENV": "development",
               "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite'}"}
    else:
        module = {"veracity-server": "veracity_server.cli", "ibkr-connector": "veracity_connector",
                  "ibkr-gateway-sim": "ibkr_gateway_sim"}[program]
        invocation = [sys.executable, "-m", module, *arguments, "--help"]
        env = None
    result = subprocess.run(invocation, cwd=REPO_ROOT, capture_output=True, text=True,
                            check=False, env=env)
    assert result.returncode == 0, f"{' '.join(invocation)}\n{result.stdout}\n{result.stderr}"


def test_every_variable_the_compose_file_sets_is_read_by_our_code() -> None:
    sources = "\n".join(path.read_text(encoding="utf-8")
                        for package in ("server", "client", "simulator", "contract")
                        for path in (REPO_ROOT / package).rglob("*.py"))
    sources += (REPO_ROOT / "gunicorn.conf.py").read_text(encoding="utf-8")
    # The server's settings model names its variables itself (`<NAME>_FILE` secrets included).
    from veracity_server.settings import ENVIRONMENT_VARIABLES

    for name, definition in load_compose()["services"].items():
        for variable in definition.get("environment") or {}:
            if variable in FOREIGN_VARIABLES or variable in ENVIRONMENT_VARIABLES:
                continue
            assert f'"{variable}"' in sources, f"{name} sets {variable}, which nothing reads"


def test_the_image_installs_each_part_compose_runs_from_its_own_folder() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    install = re.search(r"^RUN pip install -c constraints.txt (.+)$", dockerfile, re.MULTILINE)
    assert install, "the image must install the versions CI tested (-c constraints.txt)"
    # nginx-config renders deploy/nginx/veracity.conf.template inside the image.
    assert re.search(r"^COPY deploy deploy$", dockerfile, re.MULTILINE)
    for part in ("contract", "server", "simulator", "client"):
        assert (REPO_ROOT / part / "pyproject.toml").is_file(), part
        assert re.search(rf"^COPY {part} {part}$", dockerfile, re.MULTILINE), part
        assert f"./{part}" in install.group(1).split(), part
    # The release pipeline builds Windows installers: it has no place in the server's image.
    assert "release" not in install.group(1)


def test_only_nginx_publishes_a_port_and_only_on_loopback() -> None:
    services = load_compose()["services"]
    published = {name: definition["ports"] for name, definition in services.items()
                 if definition.get("ports")}
    assert list(published) == ["nginx"]
    assert all(str(port).startswith("127.0.0.1:") for port in published["nginx"])


def test_gunicorn_postgres_and_redis_sit_on_the_internal_network_only() -> None:
    compose = load_compose()
    assert compose["networks"]["internal"]["internal"] is True  # no route out
    services = compose["services"]
    instances = [name for name, definition in services.items()
                 if definition.get("command", [None])[0] == "gunicorn"]
    assert len(instances) >= 2
    for name in (*instances, "postgres", "redis"):
        assert services[name]["networks"] == ["internal"], name
        assert services[name]["restart"] == "unless-stopped", name
        assert "healthcheck" in services[name], name
    assert "internal" in services["nginx"]["networks"]
    # nginx balances exactly the gunicorn instances compose runs.
    command = services["nginx-config"]["command"]
    upstreams = [command[index + 1] for index, word in enumerate(command) if word == "--upstream"]
    assert sorted(upstreams) == sorted(f"{name}:8000" for name in instances)
    for name in instances:
        environment = services[name]["environment"]
        assert environment["VERACITY_BIND"] == "0.0.0.0:8000"
        assert environment["VERACITY_TRUSTED_PROXIES"] == "1"  # nginx, the one proxy in front
        assert environment["REDIS_URL"].startswith("redis://")  # limits shared
        assert int(environment["WEB_CONCURRENCY"]) >= 2
