"""Settings: parsed once, strictly; bad values fail fast naming the variable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from veracity_server.settings import SettingsError, load_settings

KEY = "k" * 40


def _load(tmp_path: Path, **environ: str):
    # Development unless the test says otherwise: production needs a whole deployment
    # (tests/server/test_production_mode.py).
    return load_settings({"VERACITY_ENV": "development", **environ}, tmp_path / "instance")


def test_defaults_the_connector_relies_on(tmp_path: Path) -> None:
    settings = _load(tmp_path, VERACITY_SECRET_KEY=KEY)
    assert (settings.heartbeat_interval_s, settings.snapshot_interval_s,
            settings.pairing_token_ttl_s) == (60, 120, 600)
    assert settings.max_content_length == 5 * 1024 * 1024
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'veracity.sqlite3'}"


@pytest.mark.parametrize(("variable", "value"), [
    ("VERACITY_HEARTBEAT_INTERVAL_S", "sixty"),
    ("VERACITY_HEARTBEAT_INTERVAL_S", "0"),
    ("VERACITY_PAIRING_TOKEN_TTL_S", "-5"),
    ("VERACITY_MAX_CONTENT_LENGTH", "5MB"),
    ("VERACITY_RATE_LIMITS_ENABLED", "maybe"),
    ("VERACITY_LOGIN_RATE_LIMIT", "lots"),
    ("VERACITY_COOKIE_SECURE", "sometimes"),
    ("VERACITY_ENV", "staging"),
    ("DATABASE_URL", "mysql://db/veracity"),
    ("VERACITY_SECRET_KEY", "short"),
])
def test_a_bad_value_fails_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    environ = {"VERACITY_ENV": "development", "VERACITY_SECRET_KEY": KEY, variable: value}
    with pytest.raises(SettingsError, match=variable):
        load_settings(environ, tmp_path)


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="VERACITY_SECRET_KEY"):
        _load(tmp_path, VERACITY_ENV="production")


def test_secret_key_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(KEY + "\n")
    assert _load(tmp_path, VERACITY_SECRET_KEY_FILE=str(secret_file)).secret_key == KEY
    with pytest.raises(SettingsError, match="VERACITY_SECRET_KEY_FILE"):
        _load(tmp_path, VERACITY_SECRET_KEY_FILE=str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="not both"):
        _load(tmp_path, VERACITY_SECRET_KEY_FILE=str(secret_file), VERACITY_SECRET_KEY=KEY)


def test_development_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = _load(tmp_path).secret_key
    second = _load(tmp_path).secret_key
    assert first == second and len(first) >= 32
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_postgres_urls_get_the_psycopg_driver(tmp_path: Path) -> None:
    settings = _load(tmp_path, VERACITY_SECRET_KEY=KEY, DATABASE_URL="postgres://u@h/db")
    assert settings.database_url == "postgresql+psycopg://u@h/db"
