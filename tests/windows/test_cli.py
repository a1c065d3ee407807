"""The Windows `ibkr-connector` CLI under wine: every command readable with its output to a pipe,
a file and a console, in the cp1252 and UTF-8 code pages; pairing through the Windows
credential vault; a sync whose snapshot reaches the Linux server."""

from __future__ import annotations

import tomllib

import pytest

from tests.support.server_fixtures import REPO_ROOT
from tests.windows.conftest import CODE_PAGES, OUTPUTS, WINDOWS_EMAIL, WindowsConnector, WineResult

pytestmark = pytest.mark.windows

EVERY_OUTPUT = pytest.mark.parametrize("output", OUTPUTS)
EVERY_CODE_PAGE = pytest.mark.parametrize("code_page", list(CODE_PAGES))
CONNECTOR_VERSION = tomllib.loads(
    (REPO_ROOT / "client" / "pyproject.toml").read_text())["project"]["version"]
# Printed by doctor's fix-it lines and unpair's message; cp1252 has no such character.
ARROW = "\u2192"


def assert_no_crash(result: WineResult) -> None:
    """No traceback, no last-line-of-defence message, no stream set-up failure."""
    for sign in ("Traceback", "unexpected error", "UnicodeEncodeError", "Fatal Python error"):
        assert sign not in result.text, result


def assert_arrow_readable(result: WineResult, code_page: str, output: str) -> None:
    """The arrow survives where the code page has it and becomes a plain '?' where it has not.
    A console takes UTF-16 (WriteConsoleW); how wine renders it on the host's terminal depends
    on the host's C locale, not on the Windows code page, so there either is fine."""
    if code_page == "utf-8" and output != "console":
        assert ARROW in result.text, result
    else:
        assert "Profile ? IBKR Integration" in result.flat or ARROW in result.text, result


@EVERY_OUTPUT
@EVERY_CODE_PAGE
def test_version(windows_connector: WindowsConnector, output: str, code_page: str) -> None:
    result = windows_connector("--version", output=output, code_page=code_page)
    assert result.returncode == 0, result
    assert f"ibkr-connector {CONNECTOR_VERSION}" in result.text


@EVERY_OUTPUT
@EVERY_CODE_PAGE
def test_doctor_on_a_fresh_install_reports_every_problem(
        windows_connector: WindowsConnector, output: str, code_page: str) -> None:
    result = windows_connector("doctor", output=output, code_page=code_page)
    assert_no_crash(result)
    assert result.returncode == 1, result  # not paired: a problem, not a crash
    assert "[FAIL] key: not paired" in result.flat
    assert "WinVaultKeyring" in result.flat
    assert "problem(s) found." in result.flat  # it got to the end
    assert_arrow_readable(result, code_page, output)


@EVERY_OUTPUT
@EVERY_CODE_PAGE
def test_unpair_deletes_the_vault_key_and_says_so(
        windows_connector: WindowsConnector, output: str, code_page: str) -> None:
    windows_connector.store_key("vck_" + "k" * 40)
    result = windows_connector("unpair", output=output, code_page=code_page)
    assert_no_crash(result)
    assert result.returncode == 0, result
    assert "Unpaired: the key was deleted" in result.flat
    assert_arrow_readable(result, code_page, output)
    assert windows_connector.stored_key() is None


@EVERY_OUTPUT
@EVERY_CODE_PAGE
def test_status_of_a_fresh_install(
        windows_connector: WindowsConnector, output: str, code_page: str) -> None:
    result = windows_connector("status", output=output, code_page=code_page)
    assert_no_crash(result)
    assert result.returncode == 0, result
    assert "needs_token" in result.flat or "Not paired" in result.flat, result


def test_pair_sync_status_doctor_unpair_against_the_linux_server(
        windows_connector: WindowsConnector, windows_server, windows_gateway) -> None:
    token = windows_server.issue_token(WINDOWS_EMAIL)
    paired = windows_connector("pair", token)
    assert paired.returncode == 0, paired
    assert "WinVaultKeyring" in paired.text and "vck_" not in paired.text
    key = windows_connector.stored_key()
    assert key is not None and key.startswith("vck_")

    synced = windows_connector("sync", "--once")
    assert synced.returncode == 0, synced
    assert synced.text.startswith("delivered"), synced
    portfolio = windows_server.login(WINDOWS_EMAIL).get(
        windows_server.url("/api/v1/profile/ibkr/portfolio"), timeout=10).json()
    [account] = portfolio["accounts"]
    assert [position["conid"] for position in account["positions"]] == [9001]

    status = windows_connector("status", "--json")
    assert status.returncode == 0, status
    assert '"paired": true' in status.text

    doctor = windows_connector("doctor")
    assert_no_crash(doctor)
    assert "Veracity accepts the stored key" in doctor.text
    assert key not in doctor.text + paired.text + synced.text + status.text

    unpaired = windows_connector("unpair")
    assert unpaired.returncode == 0, unpaired
    assert windows_connector.stored_key() is None
