"""The Windows tray app under wine: pystray's win32 icon in wine's notification area, its real
win32 popup menu clicked with the mouse (Paste token…, Sync now, Quit), the tkinter token dialog
of the Windows CPython pairing against the Linux server. Screenshots go to
test-artefacts/windows/ (docs/images/windows-*.png were cropped from them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.waiting import WaitTimedOut, wait_until
from tests.tray.x_server import SCREEN_HEIGHT, SCREEN_WIDTH, XServer, running_xvfb
from tests.windows.conftest import WINDOWS_EMAIL, WindowsConnector
from tests.windows.wine_desktop import (
    ARTEFACTS,
    ICON_MATCH_LIMIT,
    crash_dialog_off,
    find_tray_icon,
    running_in_wine_desktop,
    save_small_png,
    windows,
)
from veracity_connector.state import ConnectorState, ConnectorStatus
from veracity_connector.tray.menu import (
    PASTE_TOKEN,
    QUIT,
    START_WITH_WINDOWS,
    SYNC_NOW,
    TrayView,
    build_menu,
)

pytestmark = [pytest.mark.windows, pytest.mark.timeout(900)]

# A new dialog's window is shown a moment before it takes keys and clicks.
DIALOG_SETTLE_S = 2.0
HEARTBEAT_INTERVAL_S = 5  # each accepted heartbeat changes the status, so the menu too
# Signs that the process died instead of quitting (Tcl's abort, wine's crash handler).
CRASH_SIGNS = ("Tcl_AsyncDelete", "Unhandled exception", "Fatal Python error", "Traceback")


@pytest.fixture(scope="module")
def x_display() -> Iterator[XServer]:
    with running_xvfb() as server:
        yield server


def windows_menu_rows(paired: bool) -> list[str]:
    """The rows the Windows tray menu shows, from the app's own menu model ('-': separator)."""
    class NoActions:
        def __getattr__(self, _name: str) -> Any:
            return lambda: None

    view = TrayView(status=ConnectorStatus(paired=paired), gateway_folder_set=False,
                    gateway_running=False, autostart_supported=True, autostart_enabled=False,
                    autostart_label=START_WITH_WINDOWS, update_version=None)
    menu = build_menu(NoActions(), lambda: view)
    return ["-" if item.separator else item.text(view) for item in menu.visible_items()]


def portfolio_as_of(server: Any) -> str | None:
    """When the newest snapshot Veracity holds for the Windows user was taken."""
    answer = server.login(WINDOWS_EMAIL).get(server.url("/api/v1/profile/ibkr/portfolio"),
                                             timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["as_of"]


def test_tray_icon_menu_and_token_dialog_of_the_windows_build(
        windows_connector: WindowsConnector, windows_server: Any, x_display: XServer) -> None:
    crash_dialog_off(windows_connector.run)
    # Snapshots only when asked (pairing, Sync now), so a new one proves the click worked.
    windows_connector.settings.update({"IBKR_CONNECTOR_SNAPSHOT_INTERVAL_S": "3600",
                                       "IBKR_CONNECTOR_HEARTBEAT_INTERVAL_S":
                                       str(HEARTBEAT_INTERVAL_S)})
    windows_connector.vault_used = True
    env = windows_connector.env("cp1252")
    with running_in_wine_desktop(x_display, env, ["ibkr-connector"]) as desktop:
        # 1. The icon: pystray's win32 backend, in wine's notification area.
        icon = desktop.wait_for_tray_icon(ConnectorState.NEEDS_TOKEN)
        _path, screen = desktop.screenshot("tray-needs-token")
        other = find_tray_icon(screen, ConnectorState.SYNCING)
        assert other.difference > 2 * ICON_MATCH_LIMIT, (icon, other)  # the matcher can tell
        save_small_png(screen, (SCREEN_WIDTH - 200, SCREEN_HEIGHT - 20, SCREEN_WIDTH,
                                SCREEN_HEIGHT), ARTEFACTS / "windows-tray.png", scale=2)

        # 2. Paste token… through the real popup menu; the Tk dialog pairs with the server.
        menu = desktop.open_tray_menu(icon)
        _path, screen = desktop.screenshot("tray-menu")
        save_small_png(screen, (menu.x, menu.y, SCREEN_WIDTH, SCREEN_HEIGHT),
                       ARTEFACTS / "windows-tray-menu.png")
        before_pairing = portfolio_as_of(windows_server) or ""  # other tests' snapshots
        dialog = desktop.choose_from_tray_menu(
            icon, windows_menu_rows(paired=False), PASTE_TOKEN,
            lambda: next((w for w in windows(x_display) if "Paste token" in w.name), None),
            menu=menu, timeout_s=60)
        token = windows_server.issue_token(WINDOWS_EMAIL)
        time.sleep(DIALOG_SETTLE_S)  # a window just shown may not take keys yet
        desktop.type_text(token)
        desktop.press("Return")
        try:
            key = wait_until(windows_connector.stored_key, 60, "the key in the Windows vault",
                             interval_s=2)
        except WaitTimedOut:
            # On a loaded machine the keys once went nowhere (the dialog was not yet the
            # active window): type the token once more, with the log in the failure if that
            # is not it either. The token is unspent unless the first Return reached Veracity.
            desktop.screenshot("token-dialog-no-key")
            desktop.click_into(desktop.wait_for_window("Paste token"))
            desktop.clear_entry()
            desktop.type_text(token)
            desktop.press("Return")
            log_file = windows_connector.home / "logs" / "connector.log"
            key = wait_until(windows_connector.stored_key, 120, lambda: "the key in the "
                             "Windows vault after typing the token again; the connector's log "
                             "ends:\n" + log_file.read_text(errors="replace")[-3000:],
                             interval_s=2)
        assert key.startswith("vck_")
        dialog = desktop.wait_for_window("Paste token")  # it stays open with its message
        _path, screen = desktop.screenshot("token-dialog-paired")
        save_small_png(screen, (dialog.x, dialog.y, dialog.x + dialog.width,
                                dialog.y + dialog.height), ARTEFACTS / "windows-token-dialog.png")
        desktop.press("Escape")

        # 3. Paired and synced: the icon turns into the syncing one; Sync now sends another.
        icon = desktop.wait_for_tray_icon(ConnectorState.SYNCING, timeout_s=180)
        first = wait_until(lambda: (portfolio_as_of(windows_server) or "") > before_pairing
                           and portfolio_as_of(windows_server), 120, "the tray's first snapshot")
        def newer_snapshot() -> bool:
            return (portfolio_as_of(windows_server) or "") > first

        # The open menu outlives status changes (two heartbeats): pystray rebuilt it under the
        # pointer on each one, closing it or losing its click (tray/win32_menu.py).
        menu = desktop.open_tray_menu(icon)
        time.sleep(2 * HEARTBEAT_INTERVAL_S + 1)
        assert menu.id in {window.id for window in windows(x_display)}, \
            "a status change closed the open tray menu"
        desktop.choose_from_tray_menu(icon, windows_menu_rows(paired=True), SYNC_NOW,
                                      newer_snapshot, menu=menu, timeout_s=60)

        # 4. The status line opens the status window; it stays open (and keeps refreshing from
        # the engine's thread) while Quit ends the app: that once crashed Tcl on Windows.
        rows = windows_menu_rows(paired=True)
        desktop.choose_from_tray_menu(
            icon, rows, rows[0],
            lambda: next((w for w in windows(x_display) if "Status" in w.name), None),
            timeout_s=60)
        desktop.screenshot("status-window")

        # 5. Quit: the app ends by itself, without a crash.
        desktop.choose_from_tray_menu(icon, windows_menu_rows(paired=True), QUIT,
                                      lambda: not desktop.running(), timeout_s=90)
        exit_code = desktop.wait(timeout_s=60)
        output = desktop.output
    log = (windows_connector.home / "logs" / "connector.log").read_text(errors="replace")
    for sign in CRASH_SIGNS:
        assert sign not in output, f"exit {exit_code}\n{output}"
    assert exit_code == 0, output
    assert "connector stopped" in log

