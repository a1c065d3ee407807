"""Turning the settings dialog's texts into settings changes, with messages for a person."""

from __future__ import annotations

from pathlib import Path

from veracity_connector.launcher import GatewayConfError, read_listen_settings
from veracity_connector.settings import Settings


class SettingsForm:
    """Initial texts for the dialog, and validation of what the person typed."""

    def __init__(self, settings: Settings, conf_path: Path | None) -> None:
        self.settings = settings
        self.conf_path = conf_path

    def current_port(self) -> int | None:
        """The gateway's port: conf.yaml when a folder is set, else the gateway URL's."""
        if self.conf_path is not None:
            try:
                return read_listen_settings(self.conf_path).port
            except GatewayConfError:
                pass
        tail = self.settings.gateway_url.split("://", 1)[-1].split("/", 1)[0]
        _, _, port = tail.rpartition(":")
        return int(port) if port.isdigit() else None

    def initial_values(self) -> dict[str, str]:
        """What the dialog's fields start with."""
        def seconds(value: float | None) -> str:
            return "" if value is None else f"{value:g}"
        port = self.current_port()
        return {"veracity_url": self.settings.veracity_url,
                "gateway_port": "" if port is None else str(port),
                "heartbeat_interval_s": seconds(self.settings.heartbeat_interval_s),
                "snapshot_interval_s": seconds(self.settings.snapshot_interval_s)}

    def validate(self, values: dict[str, str]) -> tuple[list[str], dict[str, object], int | None]:
        """(problems, settings changes, new gateway port or None)."""
        problems: list[str] = []
        changes: dict[str, object] = {"veracity_url": values.get("veracity_url", "")}
        for key, name in (("heartbeat_interval_s", "Heartbeat"),
                          ("snapshot_interval_s", "Snapshot")):
            text = values.get(key, "")
            if not text:
                changes[key] = None  # back to what the server asks for
                continue
            try:
                seconds = float(text)
            except ValueError:
                problems.append(f"{name} interval: “{text}” is not a number of seconds.")
                continue
            if not 5 <= seconds <= 86400:
                problems.append(f"{name} interval: choose between 5 and 86400 seconds.")
            changes[key] = seconds
        new_port: int | None = None
        port_text = values.get("gateway_port", "")
        if port_text:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                problems.append(f"Gateway port: “{port_text}” is not a port number "
                                "(1 to 65535).")
            elif int(port_text) != self.current_port():
                new_port = int(port_text)
                scheme, _, rest = self.settings.gateway_url.partition("://")
                host = rest.split("/", 1)[0].rsplit(":", 1)[0] or "localhost"
                changes["gateway_url"] = f"{scheme}://{host}:{new_port}"
        return problems, changes, new_port
