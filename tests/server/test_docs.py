"""docs/server.md stays honest: every setting and CLI command is documented."""

from __future__ import annotations

import re

from tests.support.server_fixtures import REPO_ROOT
from veracity_server.cli import _parser
from veracity_server.settings import DOWNLOADS_PREFIX, ENVIRONMENT_VARIABLES

DOC = (REPO_ROOT / "docs" / "server.md").read_text()
GUNICORN_CONF = (REPO_ROOT / "gunicorn.conf.py").read_text()


def test_every_setting_is_documented() -> None:
    # The downloads' variables have their table in docs/release.md (tests/release/test_docs.py).
    missing = [name for name in ENVIRONMENT_VARIABLES
               if not name.startswith(DOWNLOADS_PREFIX) and f"`{name}`" not in DOC]
    assert missing == []


def test_every_gunicorn_variable_is_documented() -> None:
    used = set(re.findall(r'environ\.get\("([A-Z_]+)"', GUNICORN_CONF))
    assert used and all(f"`{name}`" in DOC for name in used), used


def test_every_cli_command_is_documented() -> None:
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, parser in commands.items():
        subcommands = parser._subparsers._group_actions[0].choices if parser._subparsers else {}
        for full in ([f"{name} {sub}" for sub in subcommands] or [name]):
            assert f"veracity-server {full}" in DOC, full
