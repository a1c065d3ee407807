"""The tray menu as plain data: labels, actions, enabled/checked/visible rules.

pystray's xorg backend has no menu, and Windows menus cannot be driven from tests, so the menu
is built here as a model that tests call item by item; `to_pystray_menu` turns it into pystray's
objects for the real tray. docs/tray.md names these labels word for word (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from veracity_connector.state import ConnectorState, ConnectorStatus
from veracity_connector.tray.presentation import STATUS_LINE, status_line

# Every label the menu can show. Labels with {placeholders} are filled in at display time.
SYNC_NOW = "Sync now"
PASTE_TOKEN = "Paste token…"  # noqa: S105 (a menu label, not a secret)
OPEN_GATEWAY_LOGIN = "Open gateway login"
START_GATEWAY = "Start gateway"
STOP_GATEWAY = "Stop gateway"
SET_GATEWAY_FOLDER = "Set gateway folder…"
SETTINGS = "Settings…"
ADD_FLEX = "Add daily positions history (Flex)…"
START_WITH_WINDOWS = "Start with Windows"
START_AT_LOGIN = "Start at login"  # the same toggle on Linux desktops
OPEN_LOGS_FOLDER = "Open logs folder"
CHECK_FOR_UPDATES = "Check for updates"
INSTALL_UPDATE = "Install update {version}"
ABOUT = "About"
QUIT = "Quit"

ALL_LABELS = (STATUS_LINE, SYNC_NOW, PASTE_TOKEN, OPEN_GATEWAY_LOGIN, START_GATEWAY,
              STOP_GATEWAY, SET_GATEWAY_FOLDER, SETTINGS, ADD_FLEX, START_WITH_WINDOWS,
              START_AT_LOGIN, OPEN_LOGS_FOLDER, CHECK_FOR_UPDATES, INSTALL_UPDATE, ABOUT, QUIT)


@dataclass(frozen=True)
class TrayView:
    """What the menu needs to know to draw itself, read fresh each time it opens."""

    status: ConnectorStatus
    gateway_folder_set: bool
    gateway_running: bool
    autostart_supported: bool
    autostart_enabled: bool
    autostart_label: str
    update_version: str | None  # a newer version known to be available, else None


class TrayActions(Protocol):
    """What the menu items do (implemented by the tray controller)."""

    def show_status(self) -> None: ...
    def sync_now(self) -> None: ...
    def paste_token(self) -> None: ...
    def open_gateway_login(self) -> None: ...
    def toggle_gateway(self) -> None: ...
    def set_gateway_folder(self) -> None: ...
    def open_settings(self) -> None: ...
    def open_flex(self) -> None: ...
    def toggle_autostart(self) -> None: ...
    def open_logs_folder(self) -> None: ...
    def check_for_updates(self) -> None: ...
    def install_update(self) -> None: ...
    def show_about(self) -> None: ...
    def quit(self) -> None: ...


def _always(_view: TrayView) -> bool:
    return True


@dataclass(frozen=True)
class MenuItem:
    """One menu entry; every rule is a function of the current `TrayView`."""

    text: Callable[[TrayView], str]
    action: Callable[[], None] | None = None
    enabled: Callable[[TrayView], bool] = _always
    visible: Callable[[TrayView], bool] = _always
    checked: Callable[[TrayView], bool] | None = None
    default: bool = False  # Windows: bold, runs on a click on the icon
    separator: bool = False


SEPARATOR = MenuItem(text=lambda _view: "-", separator=True)


class Menu:
    """The tray menu bound to a view provider: what tests and the pystray adapter both use."""

    def __init__(self, items: tuple[MenuItem, ...], view: Callable[[], TrayView]) -> None:
        self.items = items
        self._view = view

    def current_view(self) -> TrayView:
        """The view the rules are evaluated against right now."""
        return self._view()

    def visible_items(self) -> list[MenuItem]:
        """The items shown right now (separators included)."""
        view = self._view()
        return [item for item in self.items if item.visible(view)]

    def labels(self) -> list[str]:
        """The labels shown right now, separators left out."""
        view = self._view()
        return [item.text(view) for item in self.items
                if item.visible(view) and not item.separator]

    def item(self, label: str) -> MenuItem:
        """The visible item showing exactly `label`."""
        view = self._view()
        for item in self.items:
            if item.visible(view) and not item.separator and item.text(view) == label:
                return item
        raise KeyError(f"no visible menu item {label!r}; shown: {self.labels()}")

    def is_enabled(self, label: str) -> bool:
        """Whether the item is clickable now."""
        return self.item(label).enabled(self._view())

    def is_checked(self, label: str) -> bool:
        """Whether the toggle item shows a tick now."""
        item = self.item(label)
        return bool(item.checked and item.checked(self._view()))

    def click(self, label: str) -> None:
        """Do what clicking the item does (refuses a disabled item, like a real menu)."""
        item = self.item(label)
        if not item.enabled(self._view()):
            raise PermissionError(f"menu item {label!r} is disabled")
        assert item.action is not None
        item.action()

    def click_icon(self) -> None:
        """What a click on the tray icon does: the default item."""
        for item in self.visible_items():
            if item.default and item.action is not None:
                item.action()
                return


def build_menu(actions: TrayActions, view: Callable[[], TrayView]) -> Menu:
    """The tray menu, in the order the person sees it."""

    def fixed(label: str) -> Callable[[TrayView], str]:
        return lambda _view: label

    def paired(view: TrayView) -> bool:
        return view.status.paired and view.status.state is not ConnectorState.PAIRING

    items = (
        MenuItem(text=lambda view: status_line(view.status), action=actions.show_status,
                 default=True),
        SEPARATOR,
        MenuItem(text=fixed(SYNC_NOW), action=actions.sync_now, enabled=paired),
        MenuItem(text=fixed(PASTE_TOKEN), action=actions.paste_token),
        SEPARATOR,
        MenuItem(text=fixed(OPEN_GATEWAY_LOGIN), action=actions.open_gateway_login),
        MenuItem(text=lambda view: STOP_GATEWAY if view.gateway_running else START_GATEWAY,
                 action=actions.toggle_gateway,
                 enabled=lambda view: view.gateway_folder_set),
        MenuItem(text=fixed(SET_GATEWAY_FOLDER), action=actions.set_gateway_folder),
        SEPARATOR,
        MenuItem(text=fixed(SETTINGS), action=actions.open_settings),
        MenuItem(text=fixed(ADD_FLEX), action=actions.open_flex),
        MenuItem(text=lambda view: view.autostart_label, action=actions.toggle_autostart,
                 checked=lambda view: view.autostart_enabled,
                 visible=lambda view: view.autostart_supported),
        MenuItem(text=fixed(OPEN_LOGS_FOLDER), action=actions.open_logs_folder),
        MenuItem(text=fixed(CHECK_FOR_UPDATES), action=actions.check_for_updates),
        MenuItem(text=lambda view: INSTALL_UPDATE.format(version=view.update_version),
                 action=actions.install_update,
                 visible=lambda view: view.update_version is not None),
        MenuItem(text=fixed(ABOUT), action=actions.show_about),
        SEPARATOR,
        MenuItem(text=fixed(QUIT), action=actions.quit),
    )
    return Menu(items, view)


def to_pystray_menu(menu: Menu, pystray_module: Any) -> Any:
    """pystray's Menu for the model; texts and rules are re-evaluated each time it opens."""
    view = menu.current_view  # the same provider: one source of truth

    def convert(item: MenuItem) -> Any:
        if item.separator:
            return pystray_module.Menu.SEPARATOR
        action = item.action
        checked = item.checked
        return pystray_module.MenuItem(
            lambda _menu_item: item.text(view()),
            # pystray passes (icon, item); the model's actions take nothing.
            lambda _icon, _menu_item: action() if action else None,
            checked=(lambda _menu_item: checked(view())) if checked else None,
            enabled=lambda _menu_item: item.enabled(view()),
            visible=lambda _menu_item: item.visible(view()),
            default=item.default,
        )

    return pystray_module.Menu(*(convert(item) for item in menu.items))
