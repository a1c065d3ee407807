"""Connector settings: a JSON file in the user config folder, overridden by the environment.

Parsed once and strictly: an unknown key, a bad number or a non-https Veracity URL is an error
that names where it came from (the file and key, or the variable), not a surprise later.

Folders (platformdirs, app "VeracityIBKRConnector"): config (settings.json), data (outbox,
status file, opt-in key file), logs. `IBKR_CONNECTOR_HOME` puts all three under one folder
(portable installs, tests); `IBKR_CONNECTOR_CONFIG_DIR` / `_DATA_DIR` / `_LOG_DIR` move one.

Every setting, its variable and default is in `FIELDS` (docs/connector.md has the same table;
a test keeps them in step).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from veracity_connector.gateway.errors import GatewayConfigurationError
from veracity_connector.gateway.transport import GatewayAddress
from veracity_connector.veracity_api import VeracityConfigurationError, validate_veracity_url

APP_NAME = "VeracityIBKRConnector"
APP_AUTHOR = "Veracity"
SETTINGS_FILE_NAME = "settings.json"
KEY_STORES = ("keyring", "file")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """Settings that cannot be used; the message lists every problem and where it came from."""


@dataclass(frozen=True)
class Folders:
    """Where the connector keeps its configuration, data and logs."""

    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        """The settings file's path."""
        return self.config_dir / SETTINGS_FILE_NAME

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Folders:
        """The user's folders, relocated by IBKR_CONNECTOR_HOME / *_DIR variables if set."""
        env = os.environ if environ is None else environ
        dirs = platformdirs.PlatformDirs(APP_NAME, APP_AUTHOR)
        home = env.get("IBKR_CONNECTOR_HOME", "").strip()
        config = Path(home) / "config" if home else Path(dirs.user_config_dir)
        data = Path(home) / "data" if home else Path(dirs.user_data_dir)
        logs = Path(home) / "logs" if home else Path(dirs.user_log_dir)
        return cls(
            config_dir=Path(env.get("IBKR_CONNECTOR_CONFIG_DIR", "").strip() or config),
            data_dir=Path(env.get("IBKR_CONNECTOR_DATA_DIR", "").strip() or data),
            log_dir=Path(env.get("IBKR_CONNECTOR_LOG_DIR", "").strip() or logs),
        )


@dataclass(frozen=True)
class Settings:
    """Every connector setting, validated."""

    veracity_url: str = ""
    gateway_url: str = "https://localhost:5000"
    gateway_dir: str | None = None
    gateway_allowed_host: str | None = None
    gateway_ca_file: str | None = None
    key_store: str = "keyring"
    heartbeat_interval_s: float | None = None  # None: what the server asks for
    snapshot_interval_s: float | None = None  # None: what the server asks for
    tickle_interval_s: float = 60.0
    full_snapshot_interval_s: float = 1800.0
    gateway_timeout_s: float = 10.0
    veracity_timeout_s: float = 15.0
    rate_limit_backoff_s: float = 60.0
    outbox_max_count: int = 1000
    outbox_max_bytes: int = 50 * 1024 * 1024
    outbox_max_age_s: float = 7 * 24 * 3600.0
    log_level: str = "INFO"

    def gateway_address(self) -> GatewayAddress:
        """The validated gateway address."""
        ca_file = Path(self.gateway_ca_file) if self.gateway_ca_file else None
        return GatewayAddress.parse(self.gateway_url, allowed_host=self.gateway_allowed_host,
                                    ca_file=ca_file)


@dataclass(frozen=True)
class Field:
    """One setting: its variable, how to parse it, what it is for (for docs and errors)."""

    name: str
    env: str
    parse: Callable[[Any], Any]
    help: str


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return _text(value) or None


def _number(value: Any, *, minimum: float = 0.0, integer: bool = False) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a whole number" if integer else "must be a number") from None
    if not number > minimum:
        raise ValueError(f"must be greater than {minimum:g}")
    return number


def _positive(value: Any) -> float:
    return float(_number(value))


def _optional_positive(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _positive(value)


def _count(value: Any) -> int:
    return int(_number(value, integer=True))


def _choice(options: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value)
        text = text.upper() if upper else text.lower()
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text
    return parse


def _veracity_url(value: Any) -> str:
    text = _text(value)
    return validate_veracity_url(text) if text else ""


def _gateway_url(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    return text.rstrip("/")


FIELDS: tuple[Field, ...] = (
    Field("veracity_url", "VERACITY_URL", _veracity_url,
          "Veracity's address (https; http only on localhost)"),
    Field("gateway_url", "IBKR_GATEWAY_URL", _gateway_url,
          "the IBKR gateway's address on this machine"),
    Field("gateway_dir", "IBKR_GATEWAY_DIR", _optional_text,
          "the unzipped IBKR gateway folder (bin/, root/conf.yaml)"),
    Field("gateway_allowed_host", "IBKR_GATEWAY_ALLOWED_HOST", _optional_text,
          "a non-loopback gateway host you allow on purpose (needs the CA file)"),
    Field("gateway_ca_file", "IBKR_GATEWAY_CA_FILE", _optional_text,
          "CA file for the allowed non-loopback gateway host"),
    Field("key_store", "IBKR_CONNECTOR_KEY_STORE", _choice(KEY_STORES),
          "where the key is kept: keyring (OS credential store) or file (0600, opt-in)"),
    Field("heartbeat_interval_s", "IBKR_CONNECTOR_HEARTBEAT_INTERVAL_S", _optional_positive,
          "override the server's heartbeat interval (seconds)"),
    Field("snapshot_interval_s", "IBKR_CONNECTOR_SNAPSHOT_INTERVAL_S", _optional_positive,
          "override the server's snapshot interval (seconds)"),
    Field("tickle_interval_s", "IBKR_CONNECTOR_TICKLE_INTERVAL_S", _positive,
          "how often the gateway session is kept alive (seconds)"),
    Field("full_snapshot_interval_s", "IBKR_CONNECTOR_FULL_SNAPSHOT_INTERVAL_S", _positive,
          "send a snapshot at least this often even if nothing changed (seconds)"),
    Field("gateway_timeout_s", "IBKR_CONNECTOR_GATEWAY_TIMEOUT_S", _positive,
          "timeout of each gateway request (seconds)"),
    Field("veracity_timeout_s", "IBKR_CONNECTOR_VERACITY_TIMEOUT_S", _positive,
          "timeout of each Veracity request (seconds)"),
    Field("rate_limit_backoff_s", "IBKR_CONNECTOR_RATE_LIMIT_BACKOFF_S", _positive,
          "first pause after a gateway 429 (doubles up to 15 min)"),
    Field("outbox_max_count", "IBKR_CONNECTOR_OUTBOX_MAX_COUNT", _count,
          "most snapshots kept while Veracity is unreachable"),
    Field("outbox_max_bytes", "IBKR_CONNECTOR_OUTBOX_MAX_BYTES", _count,
          "most bytes kept in the outbox"),
    Field("outbox_max_age_s", "IBKR_CONNECTOR_OUTBOX_MAX_AGE_S", _positive,
          "oldest snapshot kept in the outbox (seconds)"),
    Field("log_level", "IBKR_CONNECTOR_LOG_LEVEL", _choice(LOG_LEVELS, upper=True),
          "DEBUG, INFO, WARNING or ERROR"),
)
FIELDS_BY_NAME = {field.name: field for field in FIELDS}


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings file's raw values ({} if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise SettingsError(f"{path} is not valid JSON (line {error.lineno}, column "
                            f"{error.colno}): {error.msg}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must contain a JSON object like {{\"veracity_url\": ...}}")
    return data


def load_settings(folders: Folders, environ: Mapping[str, str] | None = None) -> Settings:
    """File values, then environment overrides, all validated; SettingsError lists problems."""
    env = os.environ if environ is None else environ
    raw = read_settings_file(folders.settings_file)
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        field = FIELDS_BY_NAME.get(key)
        if field is None:
            problems.append(f"{folders.settings_file}: unknown setting {key!r} (known: "
                            f"{', '.join(FIELDS_BY_NAME)})")
            continue
        _parse_into(values, problems, field, value, f"{folders.settings_file}: {key!r}")
    for field in FIELDS:
        if field.env in env:
            _parse_into(values, problems, field, env[field.env], f"environment {field.env}")
    settings = Settings(**values) if not problems else Settings()
    if not problems:
        try:
            settings.gateway_address()
        except GatewayConfigurationError as error:
            problems.append(f"gateway_url: {error}")
    if problems:
        raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
    return settings


def _parse_into(values: dict[str, Any], problems: list[str], field: Field, value: Any,
                source: str) -> None:
    try:
        values[field.name] = field.parse(value)
    except (ValueError, VeracityConfigurationError) as error:
        problems.append(f"{source}: {error}")


def save_settings(folders: Folders, changes: Mapping[str, Any]) -> Settings:
    """Validate `changes` and merge them into the settings file (atomically); returns them."""
    current = read_settings_file(folders.settings_file)
    problems: list[str] = []
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        field = FIELDS_BY_NAME.get(key)
        if field is None:
            problems.append(f"unknown setting {key!r}")
        elif value is None:
            parsed[key] = None
        else:
            _parse_into(parsed, problems, field, value, repr(key))
    if problems:
        raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
    merged = {**current, **parsed}
    merged = {key: value for key, value in merged.items() if value is not None}
    try:
        candidate = replace(Settings(), **{k: v for k, v in merged.items()
                                           if k in FIELDS_BY_NAME})
        candidate.gateway_address()
    except GatewayConfigurationError as error:
        raise SettingsError(f"invalid settings:\n  - gateway_url: {error}") from None
    folders.config_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folders.config_dir, prefix=".settings")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(merged, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(temporary, folders.settings_file)
    return candidate


def setting_names() -> list[str]:
    """Every setting's name (for docs and the CLI)."""
    return [field.name for field in fields(Settings)]
