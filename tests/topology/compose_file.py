"""Reading docker-compose.yml the way Compose does, so tests can run its commands without Docker."""

from __future__ import annotations

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


def environment(name: str, paths: dict[str, Path]) -> dict[str, str]:
    """A service's environment with volume paths moved (values as strings, as Compose passes)."""
    values = {key: str(value) for key, value in (service(name).get("environment") or {}).items()}
    for key, value in values.items():
        for container_path, local_path in paths.items():
            value = value.replace(container_path, str(local_path))
        values[key] = value
    return values
