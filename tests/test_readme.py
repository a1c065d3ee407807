"""Meta-tests: the README documents every environment variable and every CLI command."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from veracity_connector.cli import build_parser as connector_parser
from veracity_release.cli import build_parser as release_parser
from veracity_server.cli import _parser as server_parser
from veracity_server.downloads.settings import ALL_VARIABLES as DOWNLOAD_VARIABLES

REPO_ROOT = Path(__file__).resolve().parents[1]
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CODE_FOLDERS = ("server", "client", "simulator", "release", "contract")
VARIABLE_LITERAL = re.compile(
    r"[\"']((?:VERACITY|IBKR|DATABASE|REDIS|WEB_CONCURRENCY|FORWARDED|AWS_ENDPOINT)[A-Z0-9_]*)"
    r"[\"']")


def variables_read_by_the_code() -> set[str]:
    """Every environment variable name spelled out in our code (prefix-only strings excluded)."""
    files = [path for folder in CODE_FOLDERS for path in (REPO_ROOT / folder).rglob("*.py")
             if not {"build", "__pycache__"} & set(path.relative_to(REPO_ROOT).parts)]
    files.append(REPO_ROOT / "gunicorn.conf.py")
    names = {match for path in files
             for match in VARIABLE_LITERAL.findall(path.read_text(encoding="utf-8"))}
    # The server's settings model also names variables it makes (`<NAME>_FILE` secrets).
    from veracity_server.settings import ENVIRONMENT_VARIABLES

    return {name for name in names if "_" in name and not name.endswith("_")} | set(
        DOWNLOAD_VARIABLES) | set(ENVIRONMENT_VARIABLES)


def subcommands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[str]:
    """`prefix sub [subsub]` for every (nested) subcommand of an argparse parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                nested = list(subcommands(child, f"{prefix} {name}"))
                yield from nested or [f"{prefix} {name}"]


def test_the_scan_finds_the_variables_we_know_about() -> None:
    found = variables_read_by_the_code()
    assert {"DATABASE_URL", "VERACITY_URL", "IBKR_GATEWAY_URL",
            "IBKR_CONNECTOR_WINDOWS_META_PATH", "VERACITY_SECRET_KEY_FILE"} <= found


@pytest.mark.parametrize("variable", sorted(variables_read_by_the_code()))
def test_every_environment_variable_is_in_the_readme(variable: str) -> None:
    assert f"`{variable}`" in README, f"README.md does not document {variable}"


COMMANDS = [*subcommands(connector_parser(), "ibkr-connector"),
            *subcommands(release_parser(), "veracity-release"),
            *subcommands(server_parser(), "veracity-server")]


def test_the_commands_are_found() -> None:
    assert "ibkr-connector doctor" in COMMANDS and "veracity-server db upgrade" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_cli_command_is_in_the_readme(command: str) -> None:
    program, *words = command.split()
    # Written out in full, or as one of a row's "a / b / c" alternatives after the program.
    alternatives = {f"`{' '.join(words)}`", f"`{words[-1]}`"}
    documented = f"`{command}" in README or any(
        f"`{program} " in line and any(alternative in line for alternative in alternatives)
        for line in README.splitlines())
    assert documented, f"README.md does not document `{command}`"
