"""Production mode (VERACITY_ENV=production, the default): the server refuses to start without
what a real deployment needs, each problem naming its variable; development stays easy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server_fixtures import REPO_ROOT, TEST_SECRET_KEY
from veracity_server.app import create_app
from veracity_server.settings import SettingsError, load_settings

POSTGRES = "postgresql+psycopg://veracity@db.internal/veracity"
COMPLETE = {
    "VERACITY_ENV": "production",
    "VERACITY_SECRET_KEY": TEST_SECRET_KEY,
    "VERACITY_PUBLIC_URL": "https://veracity.example.com",
    "VERACITY_TRUSTED_PROXIES": "1",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": POSTGRES,
}


def _problems(tmp_path: Path, **environ: str | None) -> str:
    settings = {name: value for name, value in {**COMPLETE, **environ}.items()
                if value is not None}
    with pytest.raises(SettingsError) as raised:
        load_settings(settings, tmp_path / "instance")
    return str(raised.value)


def test_a_complete_production_configuration_starts(tmp_path: Path) -> None:
    settings = load_settings(COMPLETE, tmp_path / "instance")
    assert settings.public_url == "https://veracity.example.com"
    assert settings.proxies_in_front == 1


@pytest.mark.parametrize(("variable", "environ", "says"), [
    ("VERACITY_SECRET_KEY", {"VERACITY_SECRET_KEY": None}, "required in production"),
    ("VERACITY_PUBLIC_URL", {"VERACITY_PUBLIC_URL": None}, "required in production"),
    ("VERACITY_PUBLIC_URL", {"VERACITY_PUBLIC_URL": "http://veracity.example.com"},
     "https://"),
    ("VERACITY_TRUSTED_PROXIES", {"VERACITY_TRUSTED_PROXIES": None}, "required in production"),
    ("VERACITY_TRUSTED_PROXIES", {"VERACITY_TRUSTED_PROXIES": "0"}, "required in production"),
    ("REDIS_URL", {"REDIS_URL": None}, "required in production"),
    ("DATABASE_URL", {"DATABASE_URL": None}, "postgresql+psycopg://"),
    ("DATABASE_URL", {"DATABASE_URL": "sqlite:////var/lib/veracity/db.sqlite3"}, "SQLite"),
])
def test_production_refuses_to_start_without(tmp_path: Path, variable: str,
                                             environ: dict[str, str | None], says: str) -> None:
    message = _problems(tmp_path, **environ)
    line = next(line for line in message.splitlines() if f"- {variable}:" in line)
    assert says in line


def test_every_missing_piece_is_listed_at_once(tmp_path: Path) -> None:
    message = _problems(tmp_path, VERACITY_SECRET_KEY=None, VERACITY_PUBLIC_URL=None,
                        VERACITY_TRUSTED_PROXIES=None, REDIS_URL=None, DATABASE_URL=None)
    for variable in ("VERACITY_SECRET_KEY", "VERACITY_PUBLIC_URL", "VERACITY_TRUSTED_PROXIES",
                     "REDIS_URL", "DATABASE_URL"):
        assert f"- {variable}: required in production" in message


def test_production_is_the_default(tmp_path: Path) -> None:
    environ = {name: value for name, value in COMPLETE.items() if name != "VERACITY_ENV"}
    assert load_settings(environ, tmp_path).environment == "production"
    assert "VERACITY_PUBLIC_URL" in _problems(tmp_path, VERACITY_ENV=None,
                                              VERACITY_PUBLIC_URL=None)


def test_a_public_url_must_be_an_http_address(tmp_path: Path) -> None:
    for bad in ("veracity.example.com", "ftp://veracity.example.com", "https://",
                "https://veracity.example.com/?next=x"):
        assert "VERACITY_PUBLIC_URL: must be an http(s) address" in _problems(
            tmp_path, VERACITY_PUBLIC_URL=bad)


def test_development_needs_none_of_it(tmp_path: Path) -> None:
    settings = load_settings({"VERACITY_ENV": "development"}, tmp_path / "instance")
    assert settings.database_url.startswith("sqlite:///") and settings.redis_url is None


def test_the_server_process_refuses_to_start_naming_the_variable(tmp_path: Path) -> None:
    # Through the real entry point an operator runs (the CLI builds the app like gunicorn does).
    environ = {"PATH": "/usr/bin", **COMPLETE, "VERACITY_INSTANCE_PATH": str(tmp_path)}
    del environ["REDIS_URL"]
    result = subprocess.run([sys.executable, "-m", "veracity_server.cli", "db", "current"],
                            cwd=REPO_ROOT, env=environ, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "REDIS_URL: required in production" in result.stderr


def test_the_app_factory_applies_production_mode(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="VERACITY_TRUSTED_PROXIES"):
        create_app({**COMPLETE, "VERACITY_TRUSTED_PROXIES": None,
                    "VERACITY_INSTANCE_PATH": str(tmp_path)})
