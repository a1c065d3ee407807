"""Reading docker-compose.yml the way Compose does, so tests can run its commands without Docker."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


def load_compose() -> dict[str, Any]:
    """The compose file as data (YAML anchors and merge keys resolved)."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    """One service's definition."""
    return load_compose()["services"][name]


def shell_command(name: str, paths: dict[str, Path]) -> str:
    """The `sh -c` script of a service, with Compose's `$$` unescaped and volume paths moved.

    `paths` maps a container path (e.g. "/certs") to the folder standing in for that volume.
    """
    definition = service(name)
    assert definition.get("entrypoint") == ["sh", "-c"], f"{name} is not a shell-form service"
    script = definition["command"][0].replace("$$", "$")
    for container_path, local_path in paths.items():
        script = script.replace(container_path, str(local_path))
    return script


# Compose's variable substitution: ${NAME}, ${NAME:-default} (default when unset or empty).
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: str) -> str:
    """`value` with ${NAME} and ${NAME:-default} replaced from this environment, as Compose
    does when it reads the file."""
    return _VARIABLE.sub(lambda match: os.environ.get(match[1]) or (match[2] or ""), value)


def service_environment(name: str) -> dict[str, str]:
    """A service's environment as Compose passes it: strings, variables substituted."""
    return {key: interpolate(str(value))
            for key, value in (service(name).get("environment") or {}).items()}


def environment(name: str, paths: dict[str, Path]) -> dict[str, str]:
    """A service's environment with volume paths moved (values as strings, as Compose passes)."""
    values = service_environment(name)
    for key, value in values.items():
        for container_path, local_path in paths.items():
            value = value.replace(container_path, str(local_path))
        values[key] = value
    return values
