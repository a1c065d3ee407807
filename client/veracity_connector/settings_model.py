"""The settings model: every connector setting with its variable, default, parser and doc line.

Each field's `validation_alias` is its environment variable and its `description` is what the
docs say about it (docs/connector.md has the same table; tests/test_settings_documented.py keeps
them in step). File keys are the field names. The folder fields (`home`, `config_dir`, …) are
environment-only: the settings file cannot say where the settings file is. Reading the file and
the environment into this model is `settings` (`load_settings`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field
from pydantic.json_schema import JsonDict
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from veracity_connector.gateway.transport import GatewayAddress, is_loopback_host
from veracity_connector.history.flex_client import DEFAULT_FLEX_URL
from veracity_connector.proxies import validate_proxy_setting
from veracity_connector.veracity_api import validate_veracity_url

KEY_STORES = ("keyring", "file")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENVIRONMENT_ONLY: JsonDict = {"environment_only": True}


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


def _flex_url(value: Any) -> str:
    text = _text(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must look like " + DEFAULT_FLEX_URL)
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ValueError("must use https (plain http only on localhost: a simulator)")
    return text


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
    flex_url: Annotated[str, BeforeValidator(_flex_url)] = Field(
        default=DEFAULT_FLEX_URL, validation_alias="IBKR_CONNECTOR_FLEX_URL",
        description="IBKR's Flex Web Service (…/FlexWebService; SendRequest and GetStatement "
                    "below it), contacted only once Flex is set up")
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
