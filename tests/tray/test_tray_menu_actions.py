"""Every menu item of the real controller, clicked through the menu model.

The parts are real: the engine, the gateway launcher on the simulator's fake gateway folder,
dialogs rendered on Xvfb (answered with xdotool clicks), settings files, XDG autostart in a
temporary config folder, a live server for updates. Only "open in the browser / file manager"
is recorded instead of performed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from ibkr_gateway_sim.gateway_folder import FakeGateway
from tests.support.processes import free_port, port_held_by_another_program
from tests.support.waiting import wait_until
from tests.tray.x_server import DialogDriver, XServer
from veracity_connector.dialogs import DialogHost
from veracity_connector.engine import Engine
from veracity_connector.launcher import PortOccupant, identify_port_occupant, read_listen_settings
from veracity_connector.platform.posix import LinuxPlatform
from veracity_connector.settings import Folders, load_settings, save_settings
from veracity_connector.tray.controller import TrayController
from veracity_connector.tray.engine_slot import EngineSlot
from veracity_connector.tray.menu import Menu, build_menu
from veracity_connector.tray.presentation import Notification

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(180)]


@dataclass
class Tray:
    """A controller with its menu, and what it did to the outside world."""

    controller: TrayController
    menu: Menu
    folders: Folders
    driver: DialogDriver
    opened: list[str] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    quits: list[bool] = field(default_factory=list)

    def dialog(self, kind: str, timeout_s: float = 20.0) -> Any:
        """The dialog of `kind` once it is on the screen."""
        dialog = wait_until(lambda: self.controller.dialogs.current(kind), timeout_s,
                            f"a {kind} dialog", interval_s=0.05)
        self.driver.wait_visible(dialog.window)
        return dialog

    def click_and_settle(self, dialog: Any, button: Any) -> None:
        """Click a `dialog` button that closes it, then wait for the work its answer queued."""
        self.driver.click(button)
        # The answer closes the window and queues its work in one Tk callback: once the window
        # is gone (checked on the Tk thread), the work is queued and wait_idle sees it.
        self.driver.wait_until(lambda: not dialog.window.winfo_exists(), "the dialog to close")
        self.controller.wait_idle()


def make_tray(x_server: XServer, dialogs: DialogHost, home: Path,
              veracity_url: str) -> Tray:
    folders = Folders(home / "config", home / "data", home / "logs")
    save_settings(folders, {"key_store": "file", "veracity_url": veracity_url,
                            "veracity_timeout_s": 2})
    tray = Tray(controller=None, menu=None, folders=folders,  # type: ignore[arg-type]
                driver=DialogDriver(x_server, dialogs))
    platform = LinuxPlatform(opener=tray.opened.append, config_home=home / "xdg")
    slot = EngineSlot(lambda: Engine(load_settings(folders), folders))
    tray.controller = TrayController(folders=folders, platform=platform, dialogs=dialogs,
                                     slot=slot, notify=tray.notifications.append,
                                     on_quit=lambda: tray.quits.append(True))
    tray.menu = build_menu(tray.controller, tray.controller.view)
    slot.start()
    return tray


@pytest.fixture
def tray_factory(x_server: XServer, dialog_host: DialogHost,
                 tmp_path: Path) -> Iterator[Callable[..., Tray]]:
    made: list[Tray] = []

    def factory(veracity_url: str | None = None) -> Tray:
        made.append(make_tray(x_server, dialog_host, tmp_path / f"home{len(made)}",
                              veracity_url or f"http://127.0.0.1:{free_port()}"))
        return made[-1]

    yield factory
    for tray in made:
        tray.controller.stop_event.set()  # ends update-check threads a failed test left running
        if tray.controller.launcher is not None:
            tray.controller.launcher.stop()
        tray.controller.slot.stop()
        for kind in ("question", "message", "folder", "settings", "status", "token", "about"):
            dialog = tray.controller.dialogs.current(kind)
            if dialog is not None:
                tray.driver.on_tk(dialog.window.destroy)


def with_gateway_folder(tray: Tray, gateway: FakeGateway) -> None:
    tray.controller.settings = save_settings(tray.folders, {"gateway_dir": str(gateway.root)})
    tray.controller._gateway_folder_chosen(gateway.root)
    tray.controller.wait_idle()


def wait_for_gateway(port: int, timeout_s: float = 30.0) -> None:
    wait_until(lambda: identify_port_occupant(port, timeout_s=2) is PortOccupant.GATEWAY,
               timeout_s, f"a gateway on port {port}")


def test_start_and_stop_gateway_from_the_menu(tray_factory: Callable[..., Tray],
                                              fake_gateway_folder: FakeGateway) -> None:
    tray = tray_factory()
    assert not tray.menu.is_enabled("Start gateway")  # no folder yet
    with_gateway_folder(tray, fake_gateway_folder)
    assert tray.controller.settings.gateway_url == f"https://localhost:{fake_gateway_folder.port}"

    tray.menu.click("Start gateway")
    tray.controller.wait_idle()
    wait_for_gateway(fake_gateway_folder.port)
    assert "Stop gateway" in tray.menu.labels()

    tray.menu.click("Stop gateway")
    tray.controller.wait_idle()
    assert "Start gateway" in tray.menu.labels()
    assert identify_port_occupant(fake_gateway_folder.port) is PortOccupant.FREE


def test_a_taken_port_is_offered_a_move_and_everything_follows(
        tray_factory: Callable[..., Tray], fake_gateway_folder: FakeGateway) -> None:
    tray = tray_factory()
    with_gateway_folder(tray, fake_gateway_folder)
    with port_held_by_another_program(fake_gateway_folder.port):
        tray.menu.click("Start gateway")
        tray.controller.wait_idle()
        question = tray.dialog("question")
        assert f"Port {fake_gateway_folder.port} is used by another program" in (
            tray.driver.on_tk(lambda: question.text_label.cget("text")))
        tray.driver.screenshot("dialog-port-taken")

        tray.click_and_settle(question, question.buttons["Move to a free port"])

    moved = read_listen_settings(fake_gateway_folder.conf)
    assert moved.port != fake_gateway_folder.port
    wait_for_gateway(moved.port)
    assert tray.controller.launcher is not None and tray.controller.launcher.is_running()
    assert tray.controller.settings.gateway_url == f"https://localhost:{moved.port}"
    assert load_settings(tray.folders).gateway_url == f"https://localhost:{moved.port}"
    engine = cast(Engine, tray.controller.slot.engine)
    assert engine.settings.gateway_url.endswith(f":{moved.port}")
    assert any("gateway moved" in note.title for note in tray.notifications)


def test_set_gateway_folder_through_its_dialog(tray_factory: Callable[..., Tray],
                                               fake_gateway_folder: FakeGateway) -> None:
    tray = tray_factory()
    tray.menu.click("Set gateway folder…")
    dialog = tray.dialog("folder")
    tray.driver.type_into(dialog.entry, str(fake_gateway_folder.root))
    tray.click_and_settle(dialog, dialog.use_button)

    settings = load_settings(tray.folders)
    assert settings.gateway_dir == str(fake_gateway_folder.root)
    assert settings.gateway_url == f"https://localhost:{fake_gateway_folder.port}"
    assert tray.menu.is_enabled("Start gateway")


def test_settings_change_the_veracity_address_and_move_the_gateway_port(
        tray_factory: Callable[..., Tray], fake_gateway_folder: FakeGateway) -> None:
    tray = tray_factory()
    with_gateway_folder(tray, fake_gateway_folder)
    new_port = free_port()
    tray.menu.click("Settings…")
    dialog = tray.dialog("settings")
    assert tray.driver.on_tk(dialog.values)["gateway_port"] == str(fake_gateway_folder.port)

    tray.driver.on_tk(lambda: dialog.set_value("veracity_url", "https://veracity.example.com"))
    tray.driver.on_tk(lambda: dialog.set_value("gateway_port", str(new_port)))
    tray.driver.on_tk(lambda: dialog.set_value("snapshot_interval_s", "300"))
    tray.click_and_settle(dialog, dialog.save_button)

    settings = load_settings(tray.folders)
    assert settings.veracity_url == "https://veracity.example.com"
    assert settings.snapshot_interval_s == 300
    assert settings.gateway_url == f"https://localhost:{new_port}"
    assert read_listen_settings(fake_gateway_folder.conf).port == new_port  # moved together
    engine = cast(Engine, tray.controller.slot.engine)
    assert engine.settings.veracity_url == "https://veracity.example.com"


def test_bad_settings_are_explained_and_nothing_is_saved(
        tray_factory: Callable[..., Tray]) -> None:
    tray = tray_factory()
    before = tray.folders.settings_file.read_text()
    tray.menu.click("Settings…")
    dialog = tray.dialog("settings")
    tray.driver.on_tk(lambda: dialog.set_value("veracity_url", "ftp://nope"))
    tray.driver.on_tk(lambda: dialog.set_value("heartbeat_interval_s", "soon"))
    tray.driver.click(dialog.save_button)
    tray.driver.wait_until(lambda: dialog.message.text, "a message")
    message = tray.driver.on_tk(lambda: dialog.message.text)
    assert "Heartbeat interval: “soon” is not a number of seconds." in message
    tray.driver.on_tk(lambda: dialog.set_value("heartbeat_interval_s", ""))
    tray.driver.click(dialog.save_button)
    tray.driver.wait_until(lambda: "veracity_url" in dialog.message.text, "the URL problem")
    assert tray.folders.settings_file.read_text() == before


def test_start_at_login_toggles_the_autostart_entry(tray_factory: Callable[..., Tray]) -> None:
    tray = tray_factory()
    desktop_file = tray.folders.config_dir.parent / "xdg" / "autostart" / (
        "VeracityIBKRConnector.desktop")
    assert not tray.menu.is_checked("Start at login")
    tray.menu.click("Start at login")
    assert tray.menu.is_checked("Start at login") and desktop_file.exists()
    assert " -m veracity_connector" in desktop_file.read_text()
    tray.menu.click("Start at login")
    assert not tray.menu.is_checked("Start at login") and not desktop_file.exists()


def test_open_logs_folder_and_gateway_login(tray_factory: Callable[..., Tray]) -> None:
    tray = tray_factory()
    tray.menu.click("Open logs folder")
    tray.menu.click("Open gateway login")
    assert tray.opened == [tray.folders.log_dir.resolve().as_uri(), "https://localhost:5000/"]
    assert tray.folders.log_dir.is_dir()


def test_check_for_updates_offers_the_new_version_and_installs_it(
        tray_factory: Callable[..., Tray], release_server: Any) -> None:
    tray = tray_factory(release_server.base_url)
    tray.menu.click("Check for updates")
    tray.controller.wait_idle()
    question = tray.dialog("question")
    text = tray.driver.on_tk(lambda: question.text_label.cget("text"))
    assert "Version 9.9.9 is available" in text and "Faster syncing." in text
    assert "Install update 9.9.9" in tray.menu.labels()
    assert tray.notifications[-1].title.endswith("update available")

    tray.click_and_settle(question, question.buttons["Install now"])
    assert tray.opened and tray.opened[-1].startswith(release_server.base_url)
    assert "installer" in tray.opened[-1]


def test_up_to_date_and_check_failures_are_told(tray_factory: Callable[..., Tray]) -> None:
    tray = tray_factory()  # nothing listens at its Veracity address
    tray.menu.click("Check for updates")
    tray.controller.wait_idle()
    message = tray.dialog("message")
    assert "could not be reached" in tray.driver.on_tk(
        lambda: message.text_label.cget("text"))


def test_the_status_window_leads_to_the_next_step(tray_factory: Callable[..., Tray]) -> None:
    tray = tray_factory()
    tray.menu.click_icon()
    window = tray.dialog("status")
    tray.driver.wait_until(lambda: window.text("State") == "Needs a token", "the state")
    tray.driver.screenshot("status-window")
    tray.driver.click(window.action_button)
    token_dialog = tray.dialog("token")
    assert tray.driver.on_tk(lambda: token_dialog.window.winfo_viewable())


def test_about_names_the_version_and_folders(tray_factory: Callable[..., Tray]) -> None:
    tray = tray_factory()
    tray.menu.click("About")
    about = tray.dialog("about")
    text = tray.driver.on_tk(lambda: about.text_label.cget("text"))
    assert "Veracity IBKR Connector 0." in text and str(tray.folders.log_dir) in text


def test_quit_stops_the_gateway_and_the_engine(x_server: XServer, tmp_path: Path,
                                               fake_gateway_folder: FakeGateway) -> None:
    own_dialogs = DialogHost(display=x_server.display)  # Quit ends the dialog thread
    tray = make_tray(x_server, own_dialogs, tmp_path / "home",
                     f"http://127.0.0.1:{free_port()}")
    with_gateway_folder(tray, fake_gateway_folder)
    tray.menu.click("Start gateway")
    tray.controller.wait_idle()
    wait_for_gateway(fake_gateway_folder.port)

    tray.menu.click("Quit")

    assert tray.quits == [True]
    assert tray.controller.slot.engine is None
    assert identify_port_occupant(fake_gateway_folder.port) is PortOccupant.FREE


def test_a_gateway_that_exits_at_once_is_reported_with_its_own_words(
        tray_factory: Callable[..., Tray], fake_gateway_folder: FakeGateway) -> None:
    fake_gateway_folder.run_sh.write_text(
        "#!/bin/sh\necho 'run.sh: 12: java: not found'\nexit 127\n")
    tray = tray_factory()
    with_gateway_folder(tray, fake_gateway_folder)
    tray.menu.click("Start gateway")
    tray.controller.wait_idle()
    message = tray.dialog("message")
    text = tray.driver.on_tk(lambda: message.text_label.cget("text"))
    assert "exited with code 127" in text and "java: not found" in text
    assert "Start gateway" in tray.menu.labels()


def test_background_update_checks_notify_and_offer_the_install(
        tray_factory: Callable[..., Tray], release_server: Any) -> None:
    tray = tray_factory(release_server.base_url)
    thread = tray.controller.run_update_checks(first_after_s=0, every_s=3600)

    def offered() -> bool:
        assert thread.is_alive(), "the update-check thread ended"
        return "Install update 9.9.9" in tray.menu.labels()

    wait_until(offered, 30, "the menu to offer update 9.9.9")
    assert tray.notifications[-1].title.endswith("update available")
    assert tray.controller.dialogs.current("question") is None  # quiet: no window pops up
    tray.controller.stop_event.set()
    thread.join(5)
    assert not thread.is_alive()


def test_a_port_change_that_cannot_reach_conf_yaml_changes_nothing(
        tray_factory: Callable[..., Tray], fake_gateway_folder: FakeGateway) -> None:
    tray = tray_factory()
    with_gateway_folder(tray, fake_gateway_folder)
    before = load_settings(tray.folders).gateway_url
    fake_gateway_folder.conf.write_text("listenPort: [broken\n")  # the person broke the file
    tray.menu.click("Settings…")
    dialog = tray.dialog("settings")
    tray.driver.on_tk(lambda: dialog.set_value("gateway_port", str(free_port())))
    tray.driver.click(dialog.save_button)
    tray.driver.wait_until(lambda: dialog.message.text, "a message")
    assert "The gateway port was not changed" in tray.driver.on_tk(lambda: dialog.message.text)
    assert load_settings(tray.folders).gateway_url == before
