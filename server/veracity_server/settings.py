"""Server settings, parsed once and strictly at start-up from the environment.

A bad value fails fast with a `SettingsError` naming the variable. Secrets may come from a file
named by `<NAME>_FILE` (Docker/Kubernetes secrets). Nothing here reads the environment at import
time: `load_settings(environ, instance_path)` is called by the app factory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("production", "development")
COOKIE_SECURE_CHOICES = ("auto", "true", "false")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
SECRET_KEY_FILENAME = "secret_key"  # noqa: S105 — a file name
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Every server setting, typed; see docs/server.md for the variables."""

    environment: str
    instance_path: Path
    database_url: str
    secret_key: str
    pairing_token_ttl_s: int = 600
    heartbeat_interval_s: int = 60
    snapshot_interval_s: int = 120
    max_content_length: int = 5 * 1024 * 1024
    redis_url: str | None = None
    rate_limits_enabled: bool = True
    login_rate_limit: str = "10 per minute"
    exchange_rate_limit: str = "10 per minute"
    cookie_secure: str = "auto"
    session_lifetime_s: int = 14 * 24 * 3600
    proxy_count: int = 0
    latest_connector_version: str | None = None
    history_days: int = 90

    @property
    def is_development(self) -> bool:
        """True in the development environment (generated secret key, relaxed cookies)."""
        return self.environment == "development"


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """A secret from `name` or from the file named by `name_FILE` (not both)."""
    direct = _text(environ, name)
    file_name = _text(environ, f"{name}_FILE")
    if direct and file_name:
        raise SettingsError(f"set either {name} or {name}_FILE, not both")
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SettingsError(
                f"{name}_FILE: cannot read {file_name}: {error.strerror}") from error
        if not value:
            raise SettingsError(f"{name}_FILE: {file_name} is empty")
        return value
    return direct


def _integer(environ: Mapping[str, str], name: str, default: int, minimum: int,
             maximum: int | None = None) -> int:
    raw = _text(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise SettingsError(f"{name} must be at least {minimum}{upper}, got {value}")
    return value


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(environ, name)
    if raw is None:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (_text(environ, name) or default).lower()
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _rate_limit(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = _text(environ, name) or default
    from limits import parse_many  # local: only needed when validating

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name} must look like '10 per minute', got {raw!r}") from None
    return raw


def _database_url(environ: Mapping[str, str], instance_path: Path) -> str:
    url = _text(environ, "DATABASE_URL")
    if url is None:
        return f"sqlite:///{instance_path / 'veracity.sqlite3'}"
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the driver named.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    if not url.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise SettingsError(
            "DATABASE_URL must start with sqlite:/// or postgresql+psycopg:// "
            f"(got {url.split(':', 1)[0]}:...)")
    return url


def _development_secret_key(instance_path: Path) -> str:
    """Generate the key once and keep it (0600) so sessions survive restarts and workers agree."""
    key_path = instance_path / SECRET_KEY_FILENAME
    try:
        return key_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two workers start at once, exactly one writes; the other reads its key.
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def load_settings(environ: Mapping[str, str], default_instance_path: Path) -> Settings:
    """Parse every setting from `environ`; raise SettingsError naming the first bad variable."""
    environment = _choice(environ, "VERACITY_ENV", "production", ENVIRONMENTS)
    instance_path = Path(_text(environ, "VERACITY_INSTANCE_PATH") or default_instance_path)
    secret_key = _secret(environ, "VERACITY_SECRET_KEY")
    if secret_key is None:
        if environment != "development":
            raise SettingsError(
                "VERACITY_SECRET_KEY (or VERACITY_SECRET_KEY_FILE) is required in production; "
                "set VERACITY_ENV=development to have one generated in the instance folder")
        secret_key = _development_secret_key(instance_path)
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"VERACITY_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long")
    return Settings(
        environment=environment,
        instance_path=instance_path,
        database_url=_database_url(environ, instance_path),
        secret_key=secret_key,
        pairing_token_ttl_s=_integer(environ, "VERACITY_PAIRING_TOKEN_TTL_S", 600, 10, 86400),
        heartbeat_interval_s=_integer(environ, "VERACITY_HEARTBEAT_INTERVAL_S", 60, 1, 3600),
        snapshot_interval_s=_integer(environ, "VERACITY_SNAPSHOT_INTERVAL_S", 120, 1, 86400),
        max_content_length=_integer(environ, "VERACITY_MAX_CONTENT_LENGTH", 5 * 1024 * 1024,
                                    1024),
        redis_url=_text(environ, "REDIS_URL"),
        rate_limits_enabled=_boolean(environ, "VERACITY_RATE_LIMITS_ENABLED", True),
        login_rate_limit=_rate_limit(environ, "VERACITY_LOGIN_RATE_LIMIT", "10 per minute"),
        exchange_rate_limit=_rate_limit(environ, "VERACITY_EXCHANGE_RATE_LIMIT",
                                        "10 per minute"),
        cookie_secure=_choice(environ, "VERACITY_COOKIE_SECURE", "auto", COOKIE_SECURE_CHOICES),
        session_lifetime_s=_integer(environ, "VERACITY_SESSION_LIFETIME_S", 14 * 24 * 3600, 60),
        proxy_count=_integer(environ, "VERACITY_PROXY_COUNT", 0, 0, 10),
        latest_connector_version=_text(environ, "VERACITY_LATEST_CONNECTOR_VERSION"),
        history_days=_integer(environ, "VERACITY_HISTORY_DAYS", 90, 1, 3650),
    )


# Every variable load_settings reads; docs/server.md must document each (a test checks).
ENVIRONMENT_VARIABLES = (
    "VERACITY_ENV", "VERACITY_INSTANCE_PATH", "DATABASE_URL", "VERACITY_SECRET_KEY",
    "VERACITY_SECRET_KEY_FILE", "VERACITY_PAIRING_TOKEN_TTL_S", "VERACITY_HEARTBEAT_INTERVAL_S",
    "VERACITY_SNAPSHOT_INTERVAL_S", "VERACITY_MAX_CONTENT_LENGTH", "REDIS_URL",
    "VERACITY_RATE_LIMITS_ENABLED", "VERACITY_LOGIN_RATE_LIMIT", "VERACITY_EXCHANGE_RATE_LIMIT",
    "VERACITY_COOKIE_SECURE", "VERACITY_SESSION_LIFETIME_S", "VERACITY_PROXY_COUNT",
    "VERACITY_LATEST_CONNECTOR_VERSION", "VERACITY_HISTORY_DAYS",
)

SETTINGS_KEY = "veracity_settings"


def current_settings() -> Settings:
    """The settings of the current app."""
    from flask import current_app

    settings: Settings = current_app.extensions[SETTINGS_KEY]
    return settings
