"""Server settings: one pydantic-settings model, parsed once and strictly by the app factory.

Each field's `validation_alias` is its environment variable and its `description` the docs'
text (docs/server.md and README.md; tests/test_settings_documented.py keeps them in step). A
bad value fails start-up with a `SettingsError` listing every problem, each naming its
variable: "VERACITY_HEARTBEAT_INTERVAL_S: must be a whole number from 1 to 3600, got 'soon'".

Secrets (fields marked `SECRET`) may instead come from a file named by `<NAME>_FILE`
(Docker/Kubernetes secrets). Nothing here reads the environment at import time:
`load_settings(environ, instance_path)` is called by `create_app`.

The IBKR_CONNECTOR_WINDOWS_* release description (URL, version, hashes…) is read here too, as
plain text: it is validated per request by veracity_server.downloads, where a broken release
answers 503 `not_configured` instead of keeping the whole server down.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from veracity_server.settings_values import (
    Text,
    boolean,
    choice,
    optional,
    rate_limit,
    seconds,
    seconds_list,
    whole,
)
from veracity_server.settings_values import public_url as parse_public_url

ENVIRONMENTS = ("production", "development")
SMTP_SECURITY_CHOICES = ("starttls", "tls", "none")
# Standard Webhooks' example retry schedule after the first attempt (about three days).
DEFAULT_ALERT_RETRY_S = "5,300,1800,7200,18000,36000,50400,72000,86400"
COOKIE_SECURE_CHOICES = ("auto", "true", "false")
SECRET_KEY_FILENAME = "secret_key"  # noqa: S105 — a file name
MIN_SECRET_KEY_LENGTH = 32
DEFAULT_PAIRING_TOKENS_PER_USER = 3
SECRET: JsonDict = {"secret": True}  # may come from <NAME>_FILE
RELEASE: JsonDict = {"release": True}  # validated per request by the downloads
DOWNLOADS_PREFIX = "IBKR_CONNECTOR_WINDOWS_"
# SigV4 presigned URLs cannot live longer than seven days.
MAX_PRESIGN_TTL_S = 7 * 24 * 3600
SETTINGS_KEY = "veracity_settings"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _variable(name: str, default: Any, description: str, *,
              extra: JsonDict | None = None) -> Any:
    """A field read from the variable `name` (one line per setting keeps the model readable)."""
    return Field(default=default, validation_alias=name, description=description,
                 json_schema_extra=extra, repr=extra != SECRET)  # no secret in a repr


class Settings(BaseSettings):
    """Every server setting, typed; build it with `load_settings` (the app factory does)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    environment: Annotated[str, BeforeValidator(choice(ENVIRONMENTS))] = _variable(
        "VERACITY_ENV", "production", "production (default) or development")
    instance_path: Path = _variable(
        "VERACITY_INSTANCE_PATH", Path("instance"),
        "folder for the SQLite file and the development secret key")
    database_url: str = _variable(
        "DATABASE_URL", "", "sqlite:///path (default: in the instance folder) or "
        "postgresql+psycopg://…", extra=SECRET)
    database_timeout_s: Annotated[float, BeforeValidator(seconds(0.5, 300))] = _variable(
        "VERACITY_DATABASE_TIMEOUT_S", 10.0,
        "longest a request's database statement or lock wait may take (PostgreSQL "
        "statement_timeout, SQLite busy timeout); beyond it: 503 database_unavailable")
    secret_key: str = _variable(
        "VERACITY_SECRET_KEY", "", "session signing secret, 32+ characters (required in "
        "production; the same on every instance)", extra=SECRET)
    pairing_token_ttl_s: Annotated[int, BeforeValidator(whole(10, 86400))] = _variable(
        "VERACITY_PAIRING_TOKEN_TTL_S", 600, "pairing token lifetime (seconds)")
    heartbeat_interval_s: Annotated[int, BeforeValidator(whole(1, 3600))] = _variable(
        "VERACITY_HEARTBEAT_INTERVAL_S", 60, "heartbeat interval told to connectors (seconds)")
    snapshot_interval_s: Annotated[int, BeforeValidator(whole(1, 86400))] = _variable(
        "VERACITY_SNAPSHOT_INTERVAL_S", 120, "snapshot interval told to connectors (seconds)")
    max_content_length: Annotated[int, BeforeValidator(whole(1024))] = _variable(
        "VERACITY_MAX_CONTENT_LENGTH", 5 * 1024 * 1024, "largest request body (bytes)")
    redis_url: Text = _variable(
        "REDIS_URL", None, "shared rate-limit storage (memory per process otherwise)",
        extra=SECRET)
    rate_limits_enabled: Annotated[bool, BeforeValidator(boolean)] = _variable(
        "VERACITY_RATE_LIMITS_ENABLED", True, "login and exchange rate limits on or off")
    login_rate_limit: Annotated[str, BeforeValidator(rate_limit)] = _variable(
        "VERACITY_LOGIN_RATE_LIMIT", "10 per minute", "login attempts per client address")
    exchange_rate_limit: Annotated[str, BeforeValidator(rate_limit)] = _variable(
        "VERACITY_EXCHANGE_RATE_LIMIT", "10 per minute", "token exchanges per client address")
    cookie_secure: Annotated[str, BeforeValidator(choice(COOKIE_SECURE_CHOICES))] = _variable(
        "VERACITY_COOKIE_SECURE", "auto", "Secure session cookie: auto, true or false")
    session_lifetime_s: Annotated[int, BeforeValidator(whole(60))] = _variable(
        "VERACITY_SESSION_LIFETIME_S", 14 * 24 * 3600,
        "absolute session lifetime from login (seconds)")
    session_idle_s: Annotated[int, BeforeValidator(whole(60))] = _variable(
        "VERACITY_SESSION_IDLE_S", 24 * 3600,
        "a session unused this long ends (seconds)")
    public_url: Annotated[str | None, BeforeValidator(parse_public_url)] = _variable(
        "VERACITY_PUBLIC_URL", None,
        "the address users and connectors reach Veracity at (https:// in production); "
        "absolute links are built from it, never from the request's Host header")
    pairing_tokens_per_user: Annotated[int, BeforeValidator(whole(1, 100))] = _variable(
        "VERACITY_PAIRING_TOKENS_PER_USER", DEFAULT_PAIRING_TOKENS_PER_USER,
        "valid (unused, unexpired) pairing tokens a user may hold; a new one retires the oldest")
    trusted_proxies: Annotated[int | None, BeforeValidator(optional(whole(0, 10)))] = \
        _variable("VERACITY_TRUSTED_PROXIES", None,
                  "reverse proxies in front whose X-Forwarded-For/Proto/Host are trusted "
                  "(required in production; 1 for the nginx of docs/deploy.md)")
    proxy_count: Annotated[int, BeforeValidator(whole(0, 10))] = _variable(
        "VERACITY_PROXY_COUNT", 0, "the earlier name of VERACITY_TRUSTED_PROXIES")
    latest_connector_version: Text = _variable(
        "VERACITY_LATEST_CONNECTOR_VERSION", None,
        "latest_version in heartbeat answers when no release is configured")
    snapshot_max_future_s: Annotated[int, BeforeValidator(whole(0, 3600))] = _variable(
        "VERACITY_SNAPSHOT_MAX_FUTURE_S", 300,
        "a snapshot's taken_at may be at most this far ahead of the server's clock (seconds)")
    # Limits per connector and per user, advertised to connectors in the heartbeat's answer.
    limit_positions_per_snapshot: Annotated[int, BeforeValidator(whole(1))] = _variable(
        "VERACITY_LIMIT_POSITIONS_PER_SNAPSHOT", 20_000,
        "positions in one snapshot, all accounts together (beyond: 413)")
    limit_stop_orders_per_snapshot: Annotated[int, BeforeValidator(whole(1))] = _variable(
        "VERACITY_LIMIT_STOP_ORDERS_PER_SNAPSHOT", 5_000,
        "stop orders in one snapshot, all accounts together (beyond: 413)")
    limit_snapshot_bytes: Annotated[int, BeforeValidator(whole(1024))] = _variable(
        "VERACITY_LIMIT_SNAPSHOT_BYTES", 4 * 1024 * 1024,
        "largest snapshot body (bytes; beyond: 413)")
    limit_snapshots_per_minute: Annotated[int, BeforeValidator(whole(1))] = _variable(
        "VERACITY_LIMIT_SNAPSHOTS_PER_MINUTE", 10,
        "snapshots one connector may send per minute (beyond: 429 with Retry-After)")
    limit_heartbeats_per_minute: Annotated[int, BeforeValidator(whole(1))] = _variable(
        "VERACITY_LIMIT_HEARTBEATS_PER_MINUTE", 20,
        "heartbeats one connector may send per minute (beyond: 429 with Retry-After)")
    limit_storage_bytes_per_user: Annotated[int, BeforeValidator(whole(1024))] = _variable(
        "VERACITY_LIMIT_STORAGE_BYTES_PER_USER", 2 * 1024**3,
        "snapshot storage one user may hold, all connectors together (beyond: 429 until "
        "retention frees space)")
    # Daily history (issue 19, docs/history.md): per request, advertised like the limits above.
    limit_history_days_per_request: Annotated[int, BeforeValidator(whole(1))] = _variable(
        "VERACITY_LIMIT_HISTORY_DAYS_PER_REQUEST", 2_000,
        "daily history points (account-days) in one history request (beyond: 413)")
    limit_history_positions_per_request: Annotated[int, BeforeValidator(whole(1))] = _variable(
        "VERACITY_LIMIT_HISTORY_POSITIONS_PER_REQUEST", 20_000,
        "end-of-day positions in one history request, all days together (beyond: 413)")
    limit_history_request_bytes: Annotated[int, BeforeValidator(whole(1024))] = _variable(
        "VERACITY_LIMIT_HISTORY_REQUEST_BYTES", 4 * 1024 * 1024,
        "largest daily history request body (bytes; beyond: 413)")
    reconcile_from_hour_utc: Annotated[int, BeforeValidator(whole(0, 23))] = _variable(
        "VERACITY_RECONCILE_FROM_HOUR_UTC", 21,
        "a live snapshot is a day's end-of-day value for reconciliation when taken from this "
        "hour (UTC) to midnight")
    retain_all_days: Annotated[int, BeforeValidator(whole(1, 3650))] = _variable(
        "VERACITY_RETAIN_ALL_DAYS", 14, "every snapshot is kept this long (days)")
    retain_hourly_days: Annotated[int, BeforeValidator(whole(1, 3650))] = _variable(
        "VERACITY_RETAIN_HOURLY_DAYS", 90,
        "then the last snapshot of each hour is kept until this age (days); after it, the "
        "last of each day, forever")
    retain_audit_days: Annotated[int, BeforeValidator(whole(1, 3650))] = _variable(
        "VERACITY_RETAIN_AUDIT_DAYS", 365,
        "each connector's audit log (paired, new IP, revoked, session states, alerts, "
        "refusals) is kept this long (days)")
    retention_interval_s: Annotated[int, BeforeValidator(whole(1, 86400))] = _variable(
        "VERACITY_RETENTION_INTERVAL_S", 3600,
        "how often retention runs for each connector, amortized into ingest (seconds)")
    page_poll_interval_s: Annotated[float, BeforeValidator(seconds(0.5, 3600))] = _variable(
        "VERACITY_PAGE_POLL_INTERVAL_S", 10.0, "how often the Profile page refreshes (seconds)")
    user_password: Text = _variable(
        "VERACITY_USER_PASSWORD", None, "password for veracity-server create-user",
        extra=SECRET)

    # Alerts (veracity_server/alerts, docs/alerts.md): e-mail over SMTP, signed webhooks, and
    # the worker (`veracity-server alerts-worker`) that detects incidents and delivers them.
    smtp_host: Text = _variable(
        "VERACITY_SMTP_HOST", None, "SMTP server for alert e-mails (unset: e-mail alerts are "
        "not sent, and the page says so)")
    smtp_port: Annotated[int, BeforeValidator(whole(1, 65535))] = _variable(
        "VERACITY_SMTP_PORT", 587, "SMTP port (587 for STARTTLS, 465 for TLS)")
    smtp_security: Annotated[str, BeforeValidator(choice(SMTP_SECURITY_CHOICES))] = _variable(
        "VERACITY_SMTP_SECURITY", "starttls",
        "starttls (default), tls (implicit TLS, usually port 465) or none (a local relay)")
    smtp_username: Text = _variable(
        "VERACITY_SMTP_USERNAME", None, "SMTP login (unset: no login)")
    smtp_password: Text = _variable(
        "VERACITY_SMTP_PASSWORD", None, "SMTP password", extra=SECRET)
    smtp_from: Text = _variable(
        "VERACITY_SMTP_FROM", None, "From address of alert e-mails (default: "
        "alerts@ the host of VERACITY_PUBLIC_URL, or alerts@localhost)")
    smtp_timeout_s: Annotated[float, BeforeValidator(seconds(1, 300))] = _variable(
        "VERACITY_SMTP_TIMEOUT_S", 20.0, "longest wait for the SMTP server (seconds)")
    alerts_detect_interval_s: Annotated[float, BeforeValidator(seconds(0.2, 3600))] = \
        _variable("VERACITY_ALERTS_DETECT_INTERVAL_S", 30.0,
                  "how often the alerts worker looks for incidents (seconds)")
    alerts_delivery_interval_s: Annotated[float, BeforeValidator(seconds(0.2, 3600))] = \
        _variable("VERACITY_ALERTS_DELIVERY_INTERVAL_S", 5.0,
                  "how often the alerts worker sends due messages and retries (seconds)")
    alerts_min_threshold_s: Annotated[int, BeforeValidator(whole(1, 86400))] = _variable(
        "VERACITY_ALERTS_MIN_THRESHOLD_S", 60,
        "the shortest 'for how long' threshold a user may set on the Profile page (seconds)")
    alerts_retry_s: Annotated[str, BeforeValidator(seconds_list)] = _variable(
        "VERACITY_ALERTS_RETRY_S", DEFAULT_ALERT_RETRY_S,
        "waits before each retry of a failed e-mail or webhook (comma-separated seconds); "
        "after the last one the delivery is marked failed")
    alerts_webhook_timeout_s: Annotated[float, BeforeValidator(seconds(1, 60))] = _variable(
        "VERACITY_ALERTS_WEBHOOK_TIMEOUT_S", 15.0, "longest wait for a webhook receiver")
    alerts_webhook_allow_private: Annotated[bool, BeforeValidator(boolean)] = _variable(
        "VERACITY_ALERTS_WEBHOOK_ALLOW_PRIVATE", False,
        "allow webhook URLs on loopback and private addresses, and plain http (tests, an "
        "intranet receiver); off: https to public addresses only")

    downloads_meta_path: Text = _variable(
        DOWNLOADS_PREFIX + "META_PATH", None,
        "release metadata JSON, a path or s3://bucket/key (highest precedence)")
    downloads_dir: Text = _variable(
        DOWNLOADS_PREFIX + "DOWNLOAD_DIR", None,
        "the folder a meta JSON's local 'file' and 'feed' must resolve inside (default: the "
        "meta file's own folder)")
    downloads_presign_ttl_s: Annotated[int, BeforeValidator(whole(1, MAX_PRESIGN_TTL_S))] = \
        _variable(DOWNLOADS_PREFIX + "PRESIGN_TTL_S", 900, "presigned URL lifetime (seconds)")
    downloads_refresh_s: Annotated[float, BeforeValidator(seconds(0, 86400))] = _variable(
        DOWNLOADS_PREFIX + "REFRESH_S", 30.0, "S3 metadata and object re-check interval")
    s3_endpoint_url: Text = _variable(
        "AWS_ENDPOINT_URL_S3", None, "S3-compatible endpoint (MinIO, moto): path-style URLs")
    aws_endpoint_url: Text = _variable(
        "AWS_ENDPOINT_URL", None, "AWS endpoint for every service (also means path-style S3)")

    release_url: Text = _variable(DOWNLOADS_PREFIX + "URL", None,
                                  "installer URL (https://… or s3://bucket/key)", extra=RELEASE)
    release_file: Text = _variable(DOWNLOADS_PREFIX + "FILE", None,
                                   "local installer file streamed by the server", extra=RELEASE)
    release_version: Text = _variable(DOWNLOADS_PREFIX + "VERSION", None,
                                      "the release's version", extra=RELEASE)
    release_published_at: Text = _variable(DOWNLOADS_PREFIX + "PUBLISHED_AT", None,
                                           "ISO 8601 publication time", extra=RELEASE)
    release_sha256: Text = _variable(DOWNLOADS_PREFIX + "SHA256", None,
                                     "the installer's SHA-256", extra=RELEASE)
    release_notes: Text = _variable(DOWNLOADS_PREFIX + "NOTES", None, "release notes",
                                    extra=RELEASE)
    release_notes_url: Text = _variable(DOWNLOADS_PREFIX + "RELEASE_NOTES_URL", None,
                                        "release notes page", extra=RELEASE)
    release_size: Text = _variable(DOWNLOADS_PREFIX + "SIZE", None, "installer size (bytes)",
                                   extra=RELEASE)
    release_filename: Text = _variable(DOWNLOADS_PREFIX + "FILENAME", None,
                                       "download file name", extra=RELEASE)
    release_feed: Text = _variable(DOWNLOADS_PREFIX + "FEED", None,
                                   "Velopack update feed (s3://bucket/prefix/ or a folder)",
                                   extra=RELEASE)

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the constructor's arguments: `load_settings` reads the given environment.

        The app factory passes the process environment merged with `create_app(test_config)`
        overrides, and `*_FILE` secrets are resolved there, so no second reading happens here.
        """
        return (init_settings,)

    @field_validator("database_url")
    @classmethod
    def _database_driver(cls, url: str, info: ValidationInfo) -> str:
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        if url and not url.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg:// "
                             f"(got {url.split(':', 1)[0]}:...)")
        return url

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, key: str) -> str:
        if key and len(key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters long")
        return key

    @property
    def is_development(self) -> bool:
        """True in the development environment (generated secret key, relaxed cookies)."""
        return self.environment == "development"

    @property
    def alert_retry_delays_s(self) -> tuple[float, ...]:
        """VERACITY_ALERTS_RETRY_S as numbers: the wait before each retry."""
        return tuple(float(part) for part in self.alerts_retry_s.split(","))

    @property
    def proxies_in_front(self) -> int:
        """How many reverse proxies' forwarded headers to trust (ProxyFix)."""
        return self.trusted_proxies if self.trusted_proxies is not None else self.proxy_count

    def release_variables(self) -> dict[str, str]:
        """The IBKR_CONNECTOR_WINDOWS_* release description that is set, by variable name."""
        return {str(info.validation_alias): value for name, info in type(self).model_fields.items()
                if info.json_schema_extra == RELEASE and (value := getattr(self, name))}


def _variables(secret: bool | None = None) -> list[str]:
    return [str(info.validation_alias) for info in Settings.model_fields.values()
            if secret is None or (info.json_schema_extra == SECRET) == secret]


SECRET_VARIABLES = _variables(secret=True)
# Every variable load_settings reads (create_app takes overrides of exactly these).
ENVIRONMENT_VARIABLES = (*_variables(), *(f"{name}_FILE" for name in SECRET_VARIABLES))


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, plus `<NAME>_FILE` secrets.

    Blank values count as unset (`env_ignore_empty`): compose files write `NAME=` for "none".
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings, case_sensitive=True, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value.strip() for name, value in self._environ.items() if value.strip()}

    def secrets_from_files(self, problems: list[str]) -> dict[str, str]:
        """{NAME: contents} for each secret given as NAME_FILE (problems name NAME_FILE)."""
        found: dict[str, str] = {}
        for name in SECRET_VARIABLES:
            file_name = self.env_vars.get(f"{name}_FILE")
            if not file_name:
                continue
            if self.env_vars.get(name):
                problems.append(f"{name}: set either {name} or {name}_FILE, not both")
                continue
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as error:
                problems.append(f"{name}_FILE: cannot read {file_name}: {error.strerror}")
                continue
            if not value:
                problems.append(f"{name}_FILE: {file_name} is empty")
                continue
            found[name] = value
        return found


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
    """Parse every setting from `environ`; SettingsError lists each problem by its variable."""
    source = _MappingEnvSource(environ)
    problems: list[str] = []
    values: dict[str, Any] = {"VERACITY_INSTANCE_PATH": default_instance_path, **source(),
                              **source.secrets_from_files(problems)}
    settings: Settings | None = None
    try:
        settings = Settings(**values)
    except ValidationError as error:
        problems.extend(_describe(error))
    if settings is not None and not settings.is_development:
        problems.extend(production_problems(settings))
    if problems or settings is None:
        raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
    return settings.model_copy(update={
        "secret_key": settings.secret_key or _development_secret_key(settings.instance_path),
        "database_url": settings.database_url or
        f"sqlite:///{settings.instance_path / 'veracity.sqlite3'}"})


def production_problems(settings: Settings) -> list[str]:
    """What production mode (VERACITY_ENV=production, the default) requires and is missing.

    Each is a way a real deployment goes quietly wrong: sessions signed with a guessable key,
    links built from whatever Host a client sends, every client keyed on nginx's address,
    rate limits per process, and SQLite's one writer behind several instances.
    """
    problems = []
    if not settings.secret_key:
        problems.append("VERACITY_SECRET_KEY: required in production (or "
                        "VERACITY_SECRET_KEY_FILE); set VERACITY_ENV=development to have one "
                        "generated in the instance folder")
    if not settings.public_url or not settings.public_url.startswith("https://"):
        problems.append("VERACITY_PUBLIC_URL: required in production: the https:// address "
                        "users and connectors reach Veracity at"
                        + (f", got {settings.public_url!r}" if settings.public_url else ""))
    if settings.proxies_in_front < 1:
        problems.append("VERACITY_TRUSTED_PROXIES: required in production: how many reverse "
                        "proxies stand in front of gunicorn (1 for nginx, docs/deploy.md); "
                        "without it every client looks like the proxy to the rate limits")
    if not settings.redis_url:
        problems.append("REDIS_URL: required in production (or REDIS_URL_FILE): rate limits "
                        "must be shared by every worker and instance")
    if not settings.database_url or settings.database_url.startswith("sqlite:"):
        problems.append("DATABASE_URL: required in production (or DATABASE_URL_FILE): a "
                        "postgresql+psycopg:// database; SQLite is for development and tests")
    return problems


def _describe(error: ValidationError) -> list[str]:
    """"VARIABLE: what is wrong" for each error (the model is filled by variable name)."""
    problems = []
    for detail in error.errors(include_url=False):
        variable = str(detail["loc"][-1]) if detail["loc"] else "settings"
        message = (str(detail["ctx"]["error"]) if detail["type"] == "value_error"
                   else detail["msg"])
        problems.append(f"{variable}: {message}")
    return problems


def parse_variable(variable: str, raw: Any) -> Any:
    """One variable's value parsed exactly as the model does (blank: its default)."""
    info = next(info for info in Settings.model_fields.values()
                if info.validation_alias == variable)
    if raw is None or not str(raw).strip():
        return info.default
    field_type: Any = Annotated[info.annotation, *info.metadata]
    adapter: TypeAdapter[Any] = TypeAdapter(field_type)
    try:
        return adapter.validate_python(raw)
    except ValidationError as error:
        message = _describe(error)[0].split(": ", 1)[-1]
        raise SettingsError(f"{variable}: {message}") from None


def current_settings() -> Settings:
    """The settings of the current app."""
    from flask import current_app

    settings: Settings = current_app.extensions[SETTINGS_KEY]
    return settings
