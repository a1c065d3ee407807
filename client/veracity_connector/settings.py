"""Connector settings: one pydantic-settings model, filled from a JSON file and the environment.

Parsed once and strictly (the CLI entry and the tray start call `load_settings`): an unknown key,
a bad number or a non-https Veracity URL is an error that names where it came from — the file
and key, or the variable — not a surprise later.

Each field's `validation_alias` is its environment variable and its `description` is what the
docs say about it (docs/connector.md has the same table; tests/test_settings_documented.py keeps
them in step). File keys are the field names; a variable overrides the file's value.

Folders (platformdirs, app "VeracityIBKRConnector"): config (settings.json), data (outbox,
status file, opt-in key file), logs. `IBKR_CONNECTOR_HOME` puts all three under one folder
(portable installs, tests); `IBKR_CONNECTOR_CONFIG_DIR` / `_DATA_DIR` / `_LOG_DIR` move one.
These four are environment-only fields of the same model: the settings file cannot say where
the settings file is.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import BeforeValidator, Field, ValidationError
from pydantic.json_schema import JsonDict
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from veracity_connector.gateway.errors import GatewayConfigurationError
from veracity_connector.gateway.transport import GatewayAddress
from veracity_connector.proxies import validate_proxy_setting
from veracity_connector.veracity_api import validate_veracity_url

APP_NAME = "VeracityIBKRConnector"
APP_AUTHOR = "Veracity"
SETTINGS_FILE_NAME = "settings.json"
KEY_STORES = ("keyring", "file")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENVIRONMENT_ONLY: JsonDict = {"environment_only": True}
# File keys that are not file settings get this prefix, so the model refuses them as extra even
# when they spell a variable ("VERACITY_URL") or an environment-only field ("home").
UNKNOWN = "unknown:"


class SettingsError(ValueError):
    """Settings that cannot be used; the message lists every problem and where it came from."""


# --- value parsers: each raises ValueError with the text shown after "where: " ----------------

def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return _text(value) or None


def _number(value: Any, *, integer: bool = False) -> Any:
    # bool is an int to Python; `"tickle_interval_s": true` is a mistake, not 1 second.
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a whole number" if integer else "must be a number") from None
    if not math.isfinite(number) or not number > 0:
        raise ValueError("must be greater than 0")
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


def _proxy(value: Any) -> str | None:
    text = _optional_text(value)
    return validate_proxy_setting(text) if text else None


def _gateway_url(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    return text.rstrip("/")


Text = Annotated[str | None, BeforeValidator(_optional_text)]
Seconds = Annotated[float, BeforeValidator(_positive)]
OptionalSeconds = Annotated[float | None, BeforeValidator(_optional_positive)]
Count = Annotated[int, BeforeValidator(_count)]


class Settings(BaseSettings):
    """Every connector setting, validated; build it with `load_settings` (file + environment)."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                                      validate_by_alias=True, case_sensitive=True)

    veracity_url: Annotated[str, BeforeValidator(_veracity_url)] = Field(
        default="", validation_alias="VERACITY_URL",
        description="Veracity's address (https; http only on localhost)")
    gateway_url: Annotated[str, BeforeValidator(_gateway_url)] = Field(
        default="https://localhost:5000", validation_alias="IBKR_GATEWAY_URL",
        description="the IBKR gateway's address on this machine")
    gateway_dir: Text = Field(
        default=None, validation_alias="IBKR_GATEWAY_DIR",
        description="the unzipped IBKR gateway folder (bin/, root/conf.yaml)")
    gateway_allowed_host: Text = Field(
        default=None, validation_alias="IBKR_GATEWAY_ALLOWED_HOST",
        description="a non-loopback gateway host you allow on purpose (needs the CA file)")
    gateway_ca_file: Text = Field(
        default=None, validation_alias="IBKR_GATEWAY_CA_FILE",
        description="CA file for the allowed non-loopback gateway host")
    key_store: Annotated[str, BeforeValidator(_choice(KEY_STORES))] = Field(
        default="keyring", validation_alias="IBKR_CONNECTOR_KEY_STORE",
        description="where the key is kept: keyring (OS credential store) or file (0600, opt-in)")
    heartbeat_interval_s: OptionalSeconds = Field(default=  # None: what the server asks for
        None, validation_alias="IBKR_CONNECTOR_HEARTBEAT_INTERVAL_S",
        description="override the server's heartbeat interval (seconds)")
    snapshot_interval_s: OptionalSeconds = Field(default=  # None: what the server asks for
        None, validation_alias="IBKR_CONNECTOR_SNAPSHOT_INTERVAL_S",
        description="override the server's snapshot interval (seconds)")
    tickle_interval_s: Seconds = Field(
        default=60.0, validation_alias="IBKR_CONNECTOR_TICKLE_INTERVAL_S",
        description="how often the gateway session is kept alive (seconds)")
    full_snapshot_interval_s: Seconds = Field(
        default=1800.0, validation_alias="IBKR_CONNECTOR_FULL_SNAPSHOT_INTERVAL_S",
        description="send a snapshot at least this often even if nothing changed (seconds)")
    gateway_timeout_s: Seconds = Field(
        default=10.0, validation_alias="IBKR_CONNECTOR_GATEWAY_TIMEOUT_S",
        description="timeout of each gateway request (seconds)")
    veracity_timeout_s: Seconds = Field(
        default=15.0, validation_alias="IBKR_CONNECTOR_VERACITY_TIMEOUT_S",
        description="timeout of each Veracity request (seconds)")
    rate_limit_backoff_s: Seconds = Field(
        default=60.0, validation_alias="IBKR_CONNECTOR_RATE_LIMIT_BACKOFF_S",
        description="first pause after a gateway 429 (doubles up to 15 min)")
    outbox_max_count: Count = Field(
        default=1000, validation_alias="IBKR_CONNECTOR_OUTBOX_MAX_COUNT",
        description="most snapshots kept while Veracity is unreachable")
    outbox_max_bytes: Count = Field(
        default=50 * 1024 * 1024, validation_alias="IBKR_CONNECTOR_OUTBOX_MAX_BYTES",
        description="most bytes kept in the outbox")
    outbox_max_age_s: Seconds = Field(
        default=7 * 24 * 3600.0, validation_alias="IBKR_CONNECTOR_OUTBOX_MAX_AGE_S",
        description="oldest snapshot kept in the outbox (seconds)")
    proxy: Annotated[str | None, BeforeValidator(_proxy)] = Field(
        default=None, validation_alias="IBKR_CONNECTOR_PROXY",
        description="Veracity's traffic through this proxy (http://[user:password@]host:port), "
                    "or none for a direct connection; unset: HTTPS_PROXY/NO_PROXY, else the "
                    "system proxy")
    log_level: Annotated[str, BeforeValidator(_choice(LOG_LEVELS, upper=True))] = Field(
        default="INFO", validation_alias="IBKR_CONNECTOR_LOG_LEVEL",
        description="DEBUG, INFO, WARNING or ERROR")

    home: Text = Field(default=None, validation_alias="IBKR_CONNECTOR_HOME",
                       json_schema_extra=ENVIRONMENT_ONLY,
                       description="one folder for config/, data/ and logs/ (portable installs)")
    config_dir: Text = Field(default=None, validation_alias="IBKR_CONNECTOR_CONFIG_DIR",
                             json_schema_extra=ENVIRONMENT_ONLY,
                             description="the folder of settings.json")
    data_dir: Text = Field(default=None, validation_alias="IBKR_CONNECTOR_DATA_DIR",
                           json_schema_extra=ENVIRONMENT_ONLY,
                           description="the folder of the outbox, status file and key file")
    log_dir: Text = Field(default=None, validation_alias="IBKR_CONNECTOR_LOG_DIR",
                          json_schema_extra=ENVIRONMENT_ONLY,
                          description="the folder of the logs")

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the constructor's arguments: `load_settings` gathers the file and environment.

        It does so itself so that each problem names its source (file key or variable), and so
        that `Settings()` — the tray's fallback when the settings are broken — is the defaults,
        not a second read of the environment that just failed.
        """
        return (init_settings,)

    def gateway_address(self) -> GatewayAddress:
        """The validated gateway address."""
        ca_file = Path(self.gateway_ca_file) if self.gateway_ca_file else None
        return GatewayAddress.parse(self.gateway_url, allowed_host=self.gateway_allowed_host,
                                    ca_file=ca_file)


@dataclass(frozen=True)
class SettingField:
    """One setting as the docs and error messages know it (derived from the model)."""

    name: str
    env: str
    help: str


def _fields(environment_only: bool) -> tuple[SettingField, ...]:
    return tuple(SettingField(name, str(info.validation_alias), info.description or "")
                 for name, info in Settings.model_fields.items()
                 if (info.json_schema_extra == ENVIRONMENT_ONLY) == environment_only)


FIELDS = _fields(environment_only=False)  # the settings file's keys, each with its variable
FIELDS_BY_NAME = {field.name: field for field in FIELDS}
ENVIRONMENT_ONLY_FIELDS = _fields(environment_only=True)
VARIABLE_TO_NAME = {field.env: field.name for field in (*FIELDS, *ENVIRONMENT_ONLY_FIELDS)}


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
