"""Connector settings: the model (`settings_model`) filled from a JSON file and the environment.

Parsed once and strictly (the CLI entry and the tray start call `load_settings`): an unknown key,
a bad number or a non-https Veracity URL is an error that names where it came from — the file
and key, or the variable — not a surprise later. A variable overrides the file's value.

Folders (platformdirs, app "VeracityIBKRConnector"): config (settings.json), data (outbox,
status file, opt-in key file), logs. `IBKR_CONNECTOR_HOME` puts all three under one folder
(portable installs, tests); `IBKR_CONNECTOR_CONFIG_DIR` / `_DATA_DIR` / `_LOG_DIR` move one.
These four are environment-only fields of the model: the settings file cannot say where the
settings file is.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource

from veracity_connector.gateway.errors import GatewayConfigurationError
from veracity_connector.settings_model import (
    ENVIRONMENT_ONLY_FIELDS,
    FIELDS,
    FIELDS_BY_NAME,
    VARIABLE_TO_NAME,
    Settings,
)

# The model's names stay importable from here, where callers and tests find them.
__all__ = [
    "FIELDS",
    "Folders",
    "Settings",
    "SettingsError",
    "load_settings",
    "read_settings_file",
    "save_settings",
    "setting_names",
    "settings_with",
]

APP_NAME = "VeracityIBKRConnector"
APP_AUTHOR = "Veracity"
SETTINGS_FILE_NAME = "settings.json"
# File keys that are not file settings get this prefix, so the model refuses them as extra even
# when they spell a variable ("VERACITY_URL") or an environment-only field ("home").
UNKNOWN = "unknown:"


class SettingsError(ValueError):
    """Settings that cannot be used; the message lists every problem and where it came from."""


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self._environ)


def _environment_values(environ: Mapping[str, str] | None,
                        names: set[str] | None = None) -> dict[str, Any]:
    """{variable: raw value} for the model's variables set in `environ` (os.environ if None)."""
    found = _MappingEnvSource(os.environ if environ is None else environ)()
    return {variable: value for variable, value in found.items()
            if names is None or VARIABLE_TO_NAME.get(variable) in names}


def _build(values: dict[str, Any], label: Callable[[str], str]) -> tuple[Settings | None,
                                                                         list[str]]:
    """The model from `values`, or the problems, each prefixed by `label(key)`."""
    try:
        return Settings(**values), []
    except ValidationError as error:
        return None, [_describe(detail, label) for detail in error.errors(include_url=False)]


def _describe(detail: Any, label: Callable[[str], str]) -> str:
    key = str(detail["loc"][0]) if detail["loc"] else ""
    if detail["type"] == "extra_forbidden":
        # Unknown file keys arrive as "unknown:<key>" (see _file_values); label gives the file.
        name = key.removeprefix(UNKNOWN)
        where = label(key)
        return (f"{where + ': ' if where else ''}unknown setting {name!r} "
                f"(known: {', '.join(FIELDS_BY_NAME)})")
    message = str(detail["ctx"]["error"]) if detail["type"] == "value_error" else detail["msg"]
    return f"{label(key)}: {message}"


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
        names = {field.name for field in ENVIRONMENT_ONLY_FIELDS}
        settings, problems = _build(_environment_values(environ, names), str)
        if settings is None:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
        dirs = platformdirs.PlatformDirs(APP_NAME, APP_AUTHOR)
        home = settings.home
        config = Path(home) / "config" if home else Path(dirs.user_config_dir)
        data = Path(home) / "data" if home else Path(dirs.user_data_dir)
        logs = Path(home) / "logs" if home else Path(dirs.user_log_dir)
        return cls(config_dir=Path(settings.config_dir or config),
                   data_dir=Path(settings.data_dir or data),
                   log_dir=Path(settings.log_dir or logs))


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


def _file_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The file's values keyed for the model: unknown keys marked so the model refuses them."""
    return {key if key in FIELDS_BY_NAME else UNKNOWN + key: value for key, value in raw.items()}


def _validated(values: dict[str, Any], label: Callable[[str], str]) -> Settings:
    """The model plus the gateway-address check; SettingsError listing every problem."""
    settings, problems = _build(values, label)
    if settings is not None:
        try:
            settings.gateway_address()
        except GatewayConfigurationError as error:
            problems.append(f"{label('gateway_url')}: {error}")
    if problems or settings is None:
        raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
    return settings


def load_settings(folders: Folders, environ: Mapping[str, str] | None = None) -> Settings:
    """File values, then environment overrides, all validated; SettingsError lists problems."""
    raw = read_settings_file(folders.settings_file)
    from_environment = _environment_values(environ)
    overridden = {VARIABLE_TO_NAME[variable] for variable in from_environment}
    # A file key is checked only if no variable overrides it; environment-only names are
    # unknown to the file (passing them on would let the file move its own folder).
    values = {key: value for key, value in _file_values(raw).items() if key not in overridden}
    values.update(from_environment)
    file_name = folders.settings_file

    def label(key: str) -> str:
        if key in VARIABLE_TO_NAME:
            return key
        if key in overridden:  # a cross-field problem on a value that came from a variable
            return next(variable for variable, name in VARIABLE_TO_NAME.items() if name == key)
        return str(file_name) if key.startswith(UNKNOWN) else f"{file_name}: {key!r}"

    return _validated(values, label)


def save_settings(folders: Folders, changes: Mapping[str, Any]) -> Settings:
    """Validate `changes` and merge them into the settings file (atomically); returns them.

    `None` removes a key (back to the default). The answer is the file's settings, without the
    environment's overrides, as before: callers show what was saved.
    """
    current = read_settings_file(folders.settings_file)
    unknown = [f"unknown setting {key!r}" for key in changes if key not in FIELDS_BY_NAME]
    if unknown:
        raise SettingsError("invalid settings:\n  - " + "\n  - ".join(unknown))
    merged = {key: value for key, value in {**current, **changes}.items() if value is not None}

    def label(key: str) -> str:
        if key in changes:
            return repr(key)
        return str(folders.settings_file) if key.startswith(UNKNOWN) else \
            f"{folders.settings_file}: {key!r}"

    candidate = _validated(_file_values(merged), label)
    folders.config_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folders.config_dir, prefix=".settings")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(merged, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(temporary, folders.settings_file)
    return candidate


def settings_with(settings: Settings, changes: Mapping[str, str]) -> Settings:
    """`settings` with some values changed, validated like the settings file (for `pair`)."""
    values = {**settings.model_dump(exclude_defaults=True), **changes}
    return _validated(values, lambda key: f"invalid {key.replace('_', '-')}")


def setting_names() -> list[str]:
    """Every setting's name (for docs and the CLI)."""
    return [field.name for field in FIELDS]
