"""The dialogs, rendered on Xvfb and driven with real keyboard and mouse events (xdotool)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ibkr_gateway_sim.gateway_folder import FakeGateway
from tests.tray.x_server import DialogDriver, XServer
from veracity_connector.credentials import open_credential_store
from veracity_connector.dialogs import FolderDialog, SettingsDialog, TokenDialog
from veracity_connector.dialogs.token_dialog import PAIRED_MESSAGE, check_token_form
from veracity_connector.engine import Engine
from veracity_connector.gateway_folder import folder_problems
from veracity_connector.settings import Folders, Settings
from veracity_connector.state import PairingOutcome

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(120)]


@pytest.fixture
def driver(x_server: XServer, dialog_host: Any) -> Iterator[DialogDriver]:
    driver = DialogDriver(x_server, dialog_host)
    opened: list[Any] = []
    driver.opened = opened  # type: ignore[attr-defined]
    yield driver
    for dialog in opened:  # close what the test left open
        driver.on_tk(lambda dialog=dialog: dialog.window.winfo_exists()
                     and dialog.window.destroy())
    # Drop them now: pytest keeps fixture values until after session teardown, and the last
    # reference to a Tk object must not die outside the Tk thread.
    opened.clear()


def open_dialog(driver: DialogDriver, build: Any) -> Any:
    dialog = driver.host.run(build)
    driver.opened.append(dialog)  # type: ignore[attr-defined]
    driver.wait_visible(dialog.window)
    return dialog


class RecordingPairing:
    """Stands in for the engine where the server's answer is not the point of the test."""

    def __init__(self, outcome: PairingOutcome) -> None:
        self.outcome = outcome
        self.tokens: list[str] = []

    def __call__(self, token: str) -> PairingOutcome:
        self.tokens.append(token)
        return self.outcome


@pytest.mark.parametrize(("typed", "complaint"), [
    ("hello", "That is not a Veracity token: tokens start with vct_."),
    ("vct_abc", "That token looks incomplete"),
    ("vck_" + "k" * 43, "That is a connector key, not a one-time token."),
    ("vct_" + "a" * 20 + "!!" + "b" * 10, "characters a token cannot have"),
])
def test_a_malformed_token_gets_a_clear_message_and_is_never_sent(
        driver: DialogDriver, typed: str, complaint: str) -> None:
    pairing = RecordingPairing(PairingOutcome(ok=True))
    dialog = open_dialog(driver, lambda root: TokenDialog(root, pair=pairing))

    driver.type_into(dialog.entry, typed)
    driver.click(dialog.pair_button)

    driver.wait_until(lambda: dialog.message.text, "a message")
    assert complaint in driver.on_tk(lambda: dialog.message.text)
    assert pairing.tokens == []
    driver.screenshot("dialog-token-malformed")


def test_token_form_check_forgives_what_copying_adds() -> None:
    token = "vct_" + "A1b2_-" * 5 + "xy"
    assert check_token_form(f"  “{token}”\n") == (token, None)
    assert check_token_form(token[:20] + "\n" + token[20:]) == (token, None)
    assert check_token_form("")[1] == (
        "Paste the one-time token from Veracity (it starts with vct_).")


def test_a_good_token_pairs_against_the_real_server(driver: DialogDriver, live_server: Any,
                                                    tmp_path: Path) -> None:
    live_server.create_user("dialog@example.com")
    token = live_server.issue_token("dialog@example.com")
    folders = Folders(tmp_path / "config", tmp_path / "data", tmp_path / "logs")
    engine = Engine(Settings(veracity_url=live_server.base_url, key_store="file"), folders,
                    write_status_file=False)
    credentials = open_credential_store("file", folders.data_dir)
    assert credentials.get() is None
    dialog = open_dialog(driver, lambda root: TokenDialog(root, pair=engine.pair))

    driver.type_into(dialog.entry, f" {token} ")  # spaces from a sloppy copy are fine
    driver.press("Return")

    driver.wait_until(lambda: dialog.message.text == PAIRED_MESSAGE, "pairing")
    driver.screenshot("dialog-token-paired")
    stored = credentials.get()
    assert stored is not None and stored.startswith("vck_")
    assert driver.on_tk(lambda: dialog.entry.get()) == ""  # the token is not left on show
    session = live_server.login("dialog@example.com")
    connectors = session.get(live_server.url("/api/v1/profile/ibkr/connectors"),
                             timeout=10).json()["connectors"]
    assert len(connectors) == 1

    # The same token again: the server says it was used; the dialog says so in plain words.
    driver.type_into(dialog.entry, token)
    driver.click(dialog.pair_button)
    driver.wait_until(lambda: "already used" in dialog.message.text, "the server's refusal")
    assert credentials.get() == stored  # a refused token never replaces a working key
    engine.stop()


def test_the_server_being_unreachable_is_said_plainly(driver: DialogDriver,
                                                      tmp_path: Path) -> None:
    from tests.support.processes import free_port

    folders = Folders(tmp_path / "config", tmp_path / "data", tmp_path / "logs")
    engine = Engine(Settings(veracity_url=f"http://127.0.0.1:{free_port()}", key_store="file",
                             veracity_timeout_s=2), folders, write_status_file=False)
    dialog = open_dialog(driver, lambda root: TokenDialog(root, pair=engine.pair))
    driver.type_into(dialog.entry, "vct_" + "x" * 32)
    driver.click(dialog.pair_button)
    driver.wait_until(lambda: not dialog.busy and dialog.message.text != "Pairing with Veracity…",
                      "the outcome", timeout_s=90)
    message = driver.on_tk(lambda: dialog.message.text)
    assert "reach" in message.lower(), message
    engine.stop()


def test_a_bad_folder_is_told_exactly_what_is_missing(driver: DialogDriver,
                                                      tmp_path: Path) -> None:
    chosen: list[Path] = []
    not_a_gateway = tmp_path / "Downloads"
    (not_a_gateway / "bin").mkdir(parents=True)
    dialog = open_dialog(driver, lambda root: FolderDialog(
        root, validate=folder_problems, on_chosen=lambda path: chosen.append(path)))

    driver.type_into(dialog.entry, str(not_a_gateway))
    driver.click(dialog.use_button)

    driver.wait_until(lambda: dialog.message.text, "a message")
    message = driver.on_tk(lambda: dialog.message.text)
    assert "has no bin/run.bat or bin/run.sh" in message
    assert "root/conf.yaml is missing" in message
    assert chosen == []
    driver.screenshot("dialog-folder-bad")
    assert driver.on_tk(lambda: dialog.window.winfo_exists())  # stays open to fix it


def test_a_broken_conf_yaml_is_named(driver: DialogDriver,
                                     fake_gateway_folder: FakeGateway) -> None:
    fake_gateway_folder.conf.write_text("listenPort: [5000\n")
    dialog = open_dialog(driver, lambda root: FolderDialog(
        root, validate=folder_problems, on_chosen=lambda path: None))
    driver.type_into(dialog.entry, str(fake_gateway_folder.root))
    driver.press("Return")
    driver.wait_until(lambda: dialog.message.text, "a message")
    assert "conf.yaml is not valid YAML" in driver.on_tk(lambda: dialog.message.text)


def test_the_gateway_folder_is_accepted(driver: DialogDriver,
                                        fake_gateway_folder: FakeGateway) -> None:
    chosen: list[Path] = []
    dialog = open_dialog(driver, lambda root: FolderDialog(
        root, validate=folder_problems, on_chosen=lambda path: chosen.append(path)))
    driver.type_into(dialog.entry, str(fake_gateway_folder.root))
    driver.click(dialog.use_button)
    driver.wait_until(lambda: not dialog.window.winfo_exists(), "the dialog to close")
    assert chosen == [fake_gateway_folder.root]


def test_settings_problems_keep_the_dialog_open(driver: DialogDriver) -> None:
    saved: list[dict[str, str]] = []

    def on_save(values: dict[str, str]) -> list[str]:
        saved.append(values)
        return [] if values["gateway_port"].isdigit() else ["Gateway port: not a number."]

    dialog = open_dialog(driver, lambda root: SettingsDialog(
        root, {"veracity_url": "https://veracity.example.com", "gateway_port": "5000"},
        on_save))
    driver.on_tk(lambda: dialog.set_value("gateway_port", ""))
    driver.type_into(dialog.entries["gateway_port"], "50x1")
    driver.click(dialog.save_button)
    driver.wait_until(lambda: dialog.message.text, "a message")
    assert driver.on_tk(lambda: dialog.message.text) == "Gateway port: not a number."
    driver.screenshot("dialog-settings-problem")

    driver.on_tk(lambda: dialog.set_value("gateway_port", ""))
    driver.type_into(dialog.entries["gateway_port"], "5001")
    driver.click(dialog.save_button)
    driver.wait_until(lambda: not dialog.window.winfo_exists(), "the dialog to close")
    assert saved[-1] == {"veracity_url": "https://veracity.example.com",
                         "gateway_port": "5001", "heartbeat_interval_s": "",
                         "snapshot_interval_s": ""}
