"""Read the settings the simulator honours from a gateway `conf.yaml` (the real file's keys)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class GatewayConfError(ValueError):
    """conf.yaml is missing, unreadable or has a bad value; the message says which."""


@dataclass
class GatewayConf:
    """`listenPort`, `listenSsl` and the `ips` allow/deny lists of a gateway conf.yaml."""

    listen_port: int = 5000
    listen_ssl: bool = True
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)

    def allows(self, address: str) -> bool:
        """True when the gateway lets a caller from `address` in (deny wins over allow)."""
        if any(fnmatch.fnmatch(address, pattern) for pattern in self.deny):
            return False
        return not self.allow or any(fnmatch.fnmatch(address, pattern) for pattern in self.allow)


def read_gateway_conf(path: Path) -> GatewayConf:
    """Parse conf.yaml; GatewayConfError names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GatewayConfError(f"cannot read {path}: {error.strerror}") from None
    try:
        data: Any = YAML(typ="safe").load(text)
    except YAMLError as error:
        raise GatewayConfError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise GatewayConfError(f"{path} does not hold a YAML mapping")
    port = data.get("listenPort", 5000)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise GatewayConfError(f"{path}: listenPort must be a port number, not {port!r}")
    ssl = data.get("listenSsl", True)
    if not isinstance(ssl, bool):
        raise GatewayConfError(f"{path}: listenSsl must be true or false, not {ssl!r}")
    ips = data.get("ips") or {}
    if not isinstance(ips, dict):
        raise GatewayConfError(f"{path}: ips must hold allow and deny lists")
    return GatewayConf(listen_port=port, listen_ssl=ssl,
                       allow=_patterns(ips.get("allow"), path, "allow"),
                       deny=_patterns(ips.get("deny"), path, "deny"))


def _patterns(value: Any, path: Path, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise GatewayConfError(f"{path}: ips.{name} must be a list of address patterns")
    return [str(pattern) for pattern in value]
