"""The release docs match the commands: every command shown parses, every option and every
download variable is documented, and the docs name nothing that does not exist."""

from __future__ import annotations

import re
import shlex

import pytest

from veracity_release.cli import build_parser, command_options
from veracity_release.versioning import REPO_ROOT
from veracity_server.downloads.settings import ALL_VARIABLES

RELEASE_DOC = REPO_ROOT / "docs" / "release.md"
INSTALLER_README = REPO_ROOT / "installer" / "windows" / "README.md"
BUILD_SCRIPT = REPO_ROOT / "installer" / "windows" / "build.ps1"
DOCS = [RELEASE_DOC, INSTALLER_README]


def shown_commands(text: str) -> list[str]:
    """`veracity-release ...` commands in inline code and in fenced code blocks."""
    spans = re.findall(r"`([^`\n]+)`", text)
    blocks = [line for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
              for line in block.splitlines()]
    commands = []
    for candidate in spans + blocks:
        found = re.search(r"veracity-release (.+)$", candidate.strip())
        if found and "`" not in found.group(1):
            commands.append(found.group(1))
    return commands


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_command_shown_in_the_docs_parses(doc):
    commands = shown_commands(doc.read_text(encoding="utf-8"))
    assert commands, f"{doc.name} shows no veracity-release command"
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command.replace("\\", "/")))
        except SystemExit:
            pytest.fail(f"{doc.name}: `veracity-release {command}` does not parse")


def test_every_subcommand_and_option_is_in_the_release_doc():
    text = RELEASE_DOC.read_text(encoding="utf-8")
    for subcommand, options in command_options().items():
        assert f"veracity-release {subcommand}" in text, subcommand
        for option in options - {"-h", "--help"}:
            assert option in text, f"{subcommand} {option} is not documented"


def test_every_download_variable_is_in_the_release_doc_table():
    table_rows = re.findall(r"^\| `(IBKR_CONNECTOR_WINDOWS_[A-Z0-9_]+)` \|", RELEASE_DOC.read_text(
        encoding="utf-8"), re.M)

    assert sorted(table_rows) == sorted(ALL_VARIABLES)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_the_docs_name_no_variable_that_does_not_exist(doc):
    named = set(re.findall(r"IBKR_CONNECTOR_WINDOWS_[A-Z0-9_]*[A-Z0-9]", doc.read_text(
        encoding="utf-8")))

    assert named <= set(ALL_VARIABLES), named - set(ALL_VARIABLES)


def test_the_build_script_uses_only_real_subcommands_and_options():
    script = BUILD_SCRIPT.read_text(encoding="utf-8")
    options = command_options()
    used_subcommands = set(re.findall(r'@\("(\w+)"', script)) | \
        set(re.findall(r"\$Release (\w+)", script))
    used_options = set(re.findall(r'"(--[a-z-]+)"', script))

    assert used_subcommands <= set(options), used_subcommands - set(options)
    assert used_options <= set().union(*options.values())
    assert used_subcommands >= {"build", "package", "hash", "publish", "env"}
