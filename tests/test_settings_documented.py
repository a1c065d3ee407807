"""Meta-test: every setting and every CLI command (and option) is in the docs.

The lists come from the code itself — the settings models' fields and aliases, and the argparse
parsers of the four commands — so a new setting or subcommand cannot ship undocumented. "The
docs" are README.md and docs/*.md; a name counts when it appears in `code` there.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ibkr_gateway_sim.cli import build_parser as simulator_parser
from veracity_connector.cli import build_parser as connector_parser
from veracity_connector.settings import Settings as ConnectorSettings
from veracity_release.cli import build_parser as release_parser
from veracity_release.signing import SigningSettings
from veracity_server.cli import _parser as server_parser
from veracity_server.settings import SECRET_VARIABLES
from veracity_server.settings import Settings as ServerSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
DOCS = "\n".join(path.read_text(encoding="utf-8") for path in DOC_FILES)
CODE_SPANS = set(re.findall(r"`([^`\n]+)`", DOCS))
GUNICORN_CONF = (REPO_ROOT / "gunicorn.conf.py").read_text(encoding="utf-8")


def model_variables() -> dict[str, str]:
    """{variable: which model reads it} for every field of every settings model."""
    found: dict[str, str] = {}
    for model in (ConnectorSettings, ServerSettings):
        for name, info in model.model_fields.items():
            found[str(info.validation_alias or name)] = f"{model.__module__}.{name}"
    for name in SECRET_VARIABLES:
        found[f"{name}_FILE"] = f"veracity_server.settings ({name} from a file)"
    prefix = str(SigningSettings.model_config.get("env_prefix", ""))
    for name in SigningSettings.model_fields:
        found[(prefix + name).upper()] = f"veracity_release.signing.{name}"
    # gunicorn reads its own variables in the master, before any app exists (gunicorn.conf.py).
    for name in re.findall(r'environ\.get\("([A-Z_]+)"', GUNICORN_CONF):
        found[name] = "gunicorn.conf.py"
    return found


def connector_file_keys() -> list[str]:
    """The settings.json keys (the connector model's fields that the file may set)."""
    return [name for name, info in ConnectorSettings.model_fields.items()
            if not info.json_schema_extra]


def commands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, list[str]]]:
    """(`prefix sub [subsub]`, its option strings) for a parser and each nested subcommand."""
    options = [option for action in parser._actions for option in action.option_strings
               if option.startswith("--") and option not in {"--help", "--version"}]
    subparsers = [action for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction)]
    yield prefix, options
    for action in subparsers:
        for name, child in action.choices.items():
            yield from commands(child, f"{prefix} {name}")


COMMANDS = dict([*commands(connector_parser(), "ibkr-connector"),
                 *commands(server_parser(), "veracity-server"),
                 *commands(simulator_parser(), "ibkr-gateway-sim"),
                 *commands(release_parser(), "veracity-release")])


def test_the_lists_come_from_the_code() -> None:
    variables = model_variables()
    assert {"VERACITY_URL", "IBKR_CONNECTOR_HOME", "DATABASE_URL", "VERACITY_SECRET_KEY_FILE",
            "IBKR_CONNECTOR_WINDOWS_META_PATH", "VERACITY_SIGN_PFX_FILE",
            "WEB_CONCURRENCY"} <= set(variables)
    assert {"ibkr-connector sync", "veracity-server db upgrade", "ibkr-gateway-sim",
            "veracity-release publish"} <= set(COMMANDS)


@pytest.mark.parametrize(("variable", "reader"), sorted(model_variables().items()))
def test_every_setting_is_documented(variable: str, reader: str) -> None:
    assert variable in CODE_SPANS or f"`{variable}`" in DOCS, \
        f"{variable} ({reader}) is not in README.md or docs/*.md"


@pytest.mark.parametrize("key", connector_file_keys())
def test_every_settings_file_key_is_documented(key: str) -> None:
    assert f"`{key}`" in DOCS, f"settings.json key {key!r} is not in the docs"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_documented(command: str) -> None:
    assert any(span.startswith(command) for span in CODE_SPANS) or \
        re.search(rf"^\s*{re.escape(command)}\b", DOCS, re.M), \
        f"`{command}` is not in README.md or docs/*.md"


@pytest.mark.parametrize(("command", "option"), sorted(
    (command, option) for command, options in COMMANDS.items() for option in options))
def test_every_option_is_documented(command: str, option: str) -> None:
    # Shown with its command, in a table row or code block line that names the command.
    program = command.split()[0]
    lines = [line for line in DOCS.splitlines() if option in line]
    assert any(program in line or command.split()[-1] in line for line in lines) or \
        any(option in span for span in CODE_SPANS), f"{command} {option} is not documented"
