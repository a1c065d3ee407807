"""The example systemd units and environment of docs/deploy.md: they verify, the environment
starts in production mode, and the backup unit's command makes a dump pg_restore can read."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.support.server_fixtures import REPO_ROOT
from veracity_server.settings import load_settings

UNITS = REPO_ROOT / "deploy" / "systemd"


def _directives(unit: Path) -> dict[str, str]:
    """`Key=value` lines (continuations joined); the last of a repeated key wins."""
    text = re.sub(r"\\\n\s*", " ", unit.read_text())
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith(("#", "[")))


def test_the_units_verify(tmp_path: Path) -> None:
    for unit in UNITS.glob("*.service"):
        assert {"ExecStart", "User"} <= set(_directives(unit)), unit.name
        assert _directives(unit)["EnvironmentFile"] == "/etc/veracity/veracity.env"
    assert _directives(UNITS / "veracity@.service")["Environment"] == \
        "VERACITY_BIND=127.0.0.1:%i"
    systemd_analyze = shutil.which("systemd-analyze")
    if systemd_analyze is None:
        return  # the structure above is all a machine without systemd can check
    for unit in UNITS.iterdir():
        if unit.suffix in {".service", ".timer"}:
            shutil.copy(unit, tmp_path / unit.name)
    result = subprocess.run(
        [systemd_analyze, "verify", "--man=no", "veracity-backup.service",
         "veracity-backup.timer", "veracity-migrate.service", "veracity@8001.service",
         "veracity-alerts-worker.service"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in result.stderr.splitlines() if line.strip()
                and "/opt/veracity/venv/bin/" not in line]  # not installed on the test machine
    assert not problems, result.stderr


def test_the_example_environment_starts_in_production_mode(tmp_path: Path) -> None:
    environ = dict(line.split("=", 1) for line in
                   (UNITS / "veracity.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    secret = tmp_path / "secret-key"
    secret.write_text("k" * 64)
    environ["VERACITY_SECRET_KEY_FILE"] = str(secret)
    settings = load_settings(environ, tmp_path)
    assert settings.environment == "production" and settings.proxies_in_front == 1
    assert settings.public_url == "https://veracity.example.com"


def test_the_backup_unit_makes_a_restorable_dump(postgres_database_url: str,
                                                 tmp_path: Path) -> None:
    command = _directives(UNITS / "veracity-backup.service")["ExecStart"]
    script = re.fullmatch(r"/bin/bash -c '(.*)'", command.strip(), re.DOTALL)
    assert script is not None, command
    # What systemd hands bash: "$$" -> "$", "%%" -> "%"; the backup folder moved into tmp_path.
    shell = script.group(1).replace("$$", "$").replace("%%", "%").replace(
        "/var/backups/veracity", str(tmp_path))
    stale = tmp_path / "veracity-20000101T000000Z.dump"
    stale.write_bytes(b"old")
    subprocess.run(["touch", "-d", "30 days ago", str(stale)], check=True)

    subprocess.run(["/bin/bash", "-c", shell], env={"DATABASE_URL": postgres_database_url,
                                                    "PATH": "/usr/bin:/bin"},
                   check=True, timeout=120)

    dumps = sorted(tmp_path.glob("veracity-*.dump"))
    assert len(dumps) == 1 and dumps[0] != stale, dumps  # the old one was removed
    listing = subprocess.run(["pg_restore", "--list", str(dumps[0])], capture_output=True,
                             text=True, check=True).stdout
    assert "TABLE public user_sessions" in listing and "TABLE public users" in listing
