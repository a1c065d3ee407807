"""`veracity-server` as a user runs it: a real subprocess with its own environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from tests.support.server_fixtures import REPO_ROOT, login
from veracity_server.app import create_app
from veracity_server.cli import main
from veracity_server.migrate import alembic_config

CLI = [sys.executable, "-m", "veracity_server.cli"]


def _run(tmp_path: Path, *arguments: str, stdin: str = "",
         extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VERACITY_", "DATABASE_URL"))}
    env.update({"VERACITY_ENV": "development", "VERACITY_INSTANCE_PATH": str(tmp_path / "inst"),
                **(extra_env or {})})
    return subprocess.run([*CLI, *arguments], input=stdin, capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=120, check=False)


def test_upgrade_create_user_and_issue_a_token(tmp_path: Path) -> None:
    upgrade = _run(tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert _run(tmp_path, "db", "current").stdout.strip() == head
    created = _run(tmp_path, "create-user", "Demo@Example.com", "--password-stdin",
                   stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    token = _run(tmp_path, "issue-token", "demo@example.com")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("vct_") and len(token.stdout.strip().split()) == 1


def _main(capsys, *arguments: str) -> tuple[int, str, str]:
    """The CLI in-process (same code as the console script; much faster than a subprocess)."""
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [*os.environ]:
        if name.startswith("VERACITY_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VERACITY_ENV", "development")
    monkeypatch.setenv("VERACITY_INSTANCE_PATH", str(tmp_path / "inst"))
    return tmp_path


def test_password_from_the_environment(cli_env: Path, capsys,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _main(capsys, "db", "upgrade")[0] == 0
    monkeypatch.setenv("VERACITY_USER_PASSWORD", "from the environment")
    assert _main(capsys, "create-user", "env@example.com")[0] == 0
    # The stored password is the one from the environment: it logs in, another does not.
    client = create_app({"VERACITY_RATE_LIMITS_ENABLED": False}).test_client()
    wrong = client.post("/api/v1/session",
                        json={"email": "env@example.com", "password": "some other password"})
    assert wrong.status_code == 401
    assert login(client, "env@example.com", "from the environment")


def test_clear_errors_for_bad_input(cli_env: Path, capsys,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert _main(capsys, "db", "upgrade")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, error = _main(capsys, "create-user", "a@example.com", "--password-stdin")
    assert code == 1 and "password" in error
    for expected in (0, 1):
        monkeypatch.setattr("sys.stdin", io.StringIO("long enough pw\n"))
        code, _, error = _main(capsys, "create-user", "a@example.com", "--password-stdin")
        assert code == expected
    assert "already exists" in error
    code, _, error = _main(capsys, "issue-token", "nobody@example.com")
    assert code == 1 and "no user" in error
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, nothing to read
    with pytest.raises(SystemExit, match="password"):
        main(["create-user", "b@example.com"])
    code, _, error = _main(capsys, "issue-token", "a@example.com", "--ttl", "0")
    assert code == 2 and "--ttl" in error
    monkeypatch.setenv("VERACITY_PAIRING_TOKEN_TTL_S", "ten")
    code, _, error = _main(capsys, "db", "upgrade")
    assert code == 2 and "VERACITY_PAIRING_TOKEN_TTL_S" in error
