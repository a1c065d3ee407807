"""The menu model: labels, order, enabled/checked rules, and that clicks reach the actions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from veracity_connector.state import ConnectorState, ConnectorStatus
from veracity_connector.tray import menu as labels
from veracity_connector.tray.menu import Menu, TrayView, build_menu, to_pystray_menu


class RecordingActions:
    """Records which action ran (the real controller is tested with the real app)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda: self.calls.append(name)


def make_view(**changes: Any) -> TrayView:
    view = TrayView(status=ConnectorStatus().with_state(ConnectorState.SYNCING, paired=True),
                    gateway_folder_set=True, gateway_running=False, autostart_supported=True,
                    autostart_enabled=False, autostart_label=labels.START_WITH_WINDOWS,
                    update_version=None)
    return dataclasses.replace(view, **changes)


def make_menu(**changes: Any) -> tuple[Menu, RecordingActions, dict[str, TrayView]]:
    actions = RecordingActions()
    current = {"view": make_view(**changes)}
    return build_menu(actions, lambda: current["view"]), actions, current


def test_the_menu_shows_the_items_in_order() -> None:
    menu, _actions, _current = make_menu()
    assert menu.labels() == [
        "Status: Syncing — last sync never", "Sync now", "Paste token…", "Open gateway login",
        "Start gateway", "Set gateway folder…", "Settings…",
        "Add daily positions history (Flex)…", "Start with Windows",
        "Open logs folder", "Check for updates", "About", "Quit"]


@pytest.mark.parametrize(("label", "action"), [
    ("Status: Syncing — last sync never", "show_status"), ("Sync now", "sync_now"),
    ("Paste token…", "paste_token"), ("Open gateway login", "open_gateway_login"),
    ("Start gateway", "toggle_gateway"), ("Set gateway folder…", "set_gateway_folder"),
    ("Settings…", "open_settings"), ("Add daily positions history (Flex)…", "open_flex"),
    ("Start with Windows", "toggle_autostart"),
    ("Open logs folder", "open_logs_folder"), ("Check for updates", "check_for_updates"),
    ("About", "show_about"), ("Quit", "quit"),
])
def test_each_item_runs_its_action(label: str, action: str) -> None:
    menu, actions, _current = make_menu()
    menu.click(label)
    assert actions.calls == [action]


def test_the_gateway_item_follows_the_gateway_and_needs_a_folder() -> None:
    menu, _actions, current = make_menu()
    current["view"] = make_view(gateway_running=True)
    assert "Stop gateway" in menu.labels() and "Start gateway" not in menu.labels()
    current["view"] = make_view(gateway_folder_set=False)
    assert not menu.is_enabled("Start gateway")
    with pytest.raises(PermissionError, match="disabled"):
        menu.click("Start gateway")


def test_sync_now_needs_a_pairing() -> None:
    menu, actions, current = make_menu()
    current["view"] = make_view(status=ConnectorStatus())  # needs_token, not paired
    assert not menu.is_enabled("Sync now")
    assert menu.is_enabled("Paste token…")
    assert actions.calls == []


def test_autostart_toggle_shows_its_state_and_hides_where_unsupported() -> None:
    menu, _actions, current = make_menu(autostart_enabled=True)
    assert menu.is_checked("Start with Windows")
    current["view"] = make_view(autostart_label=labels.START_AT_LOGIN)
    assert "Start at login" in menu.labels() and not menu.is_checked("Start at login")
    current["view"] = make_view(autostart_supported=False)
    assert not any(label.startswith("Start with") for label in menu.labels())


def test_an_available_update_adds_an_install_item() -> None:
    menu, actions, _current = make_menu(update_version="0.2.0")
    assert menu.labels()[-3:] == ["Install update 0.2.0", "About", "Quit"]
    menu.click("Install update 0.2.0")
    assert actions.calls == ["install_update"]


def test_a_click_on_the_icon_shows_the_status() -> None:
    menu, actions, _current = make_menu()
    menu.click_icon()
    assert actions.calls == ["show_status"]


def test_unknown_items_are_reported_with_what_is_shown() -> None:
    menu, _actions, _current = make_menu()
    with pytest.raises(KeyError, match="shown: "):
        menu.item("Exit")


class FakePystray:
    """pystray's Menu/MenuItem signatures, recorded (pystray itself needs a display)."""

    class Menu:
        SEPARATOR = object()

        def __init__(self, *items: Any) -> None:
            self.items = items

    class MenuItem:
        def __init__(self, text: Any, action: Any, **options: Any) -> None:
            self.text, self.action, self.options = text, action, options


def test_the_pystray_menu_is_the_same_model() -> None:
    menu, actions, current = make_menu()
    converted = to_pystray_menu(menu, FakePystray)
    real_items = [item for item in converted.items if item is not FakePystray.Menu.SEPARATOR]
    assert len(real_items) == len(menu.labels()) + 1  # + the hidden "Install update" item
    by_label = {item.text(item): item for item in real_items}
    by_label["Sync now"].action(None, None)
    assert actions.calls == ["sync_now"]
    assert by_label["Status: Syncing — last sync never"].options["default"] is True
    current["view"] = make_view(autostart_enabled=True)
    assert by_label["Start with Windows"].options["checked"](None) is True
