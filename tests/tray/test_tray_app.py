"""The real tray app on a real X tray (Xvfb + trayer): its docked icon follows the engine.

The app runs as `python -m veracity_connector` against a live Veracity server (gunicorn) and
the gateway
simulator; the test moves the engine through its states from outside, as life would (pairing
from the CLI, logging in at the gateway, Veracity going down and back, the gateway stopping,
the key being revoked), and captures the docked icon each time into test-artefacts/tray/.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import wait_until
from tests.tray.tray_driver import DockedCapture, mean_difference, running_tray_app
from tests.tray.x_server import ARTEFACTS, XServer
from veracity_connector.state import ConnectorState
from veracity_connector.status_file import read_status

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(600)]

EMAIL = "tray-user@example.com"
# One small account keeps each snapshot short (IBKR's pacing makes a 3-account, 276-position
# snapshot take ~20 s), so state changes show up within a few engine steps.
SMALL_BOOK = [{"account_id": "U7654321", "base_currency": "USD", "cash": {"USD": 1000},
               "positions": [{"conid": 265598, "ticker": "AAPL", "quantity": 10,
                              "average_price": 150, "market_price": 190}]}]


def test_the_docked_icon_follows_the_engine_through_its_states(
        tray_host: XServer, live_server: Any, gateway_sim_factory: Callable[..., Any],
        tmp_path: Path) -> None:
    gateway = gateway_sim_factory(idle_timeout_s=600)
    gateway.control.set_accounts(SMALL_BOOK)
    live_server.create_user(EMAIL)
    env = {"VERACITY_URL": live_server.base_url, "IBKR_GATEWAY_URL": gateway.base_url,
           "IBKR_CONNECTOR_TICKLE_INTERVAL_S": "1.5",
           "IBKR_CONNECTOR_HEARTBEAT_INTERVAL_S": "1", "IBKR_CONNECTOR_SNAPSHOT_INTERVAL_S": "2"}
    captures: list[DockedCapture] = []
    with running_tray_app(tray_host, tmp_path / "home", env) as app:
        captures.append(app.wait_for_docked_state(ConnectorState.NEEDS_TOKEN))

        paired = app.cli("pair", live_server.issue_token(EMAIL))  # the engine sees the new key
        assert paired.returncode == 0, paired.stdout + paired.stderr
        captures.append(app.wait_for_docked_state(ConnectorState.GATEWAY_UNAUTHENTICATED))

        gateway.control.login()  # what the person does in the browser, with 2FA
        captures.append(app.wait_for_docked_state(ConnectorState.SYNCING))

        live_server.stop()
        captures.append(app.wait_for_docked_state(ConnectorState.VERACITY_UNREACHABLE))
        live_server.start()
        app.wait_for_docked_state(ConnectorState.SYNCING)

        gateway.stop()
        captures.append(app.wait_for_docked_state(ConnectorState.GATEWAY_UNREACHABLE))

        session = live_server.login(EMAIL)
        connectors = session.get(live_server.url("/api/v1/profile/ibkr/connectors"),
                                 timeout=10).json()["connectors"]
        revoked = session.post(live_server.url(
            f"/api/v1/profile/ibkr/connectors/{connectors[0]['id']}/revoke"), timeout=10)
        assert revoked.status_code == 200
        # Returns only once the docked icon matches the needs-token icon again.
        app.wait_for_docked_state(ConnectorState.NEEDS_TOKEN)
        log = app.log_path.read_text()
        exit_code = app.stop()

    assert exit_code == 0, app.diagnostics()  # SIGTERM quits cleanly
    for capture in captures:  # the tooltip (the icon window's name) names the state too
        assert capture.tooltip.startswith("Veracity IBKR Connector\n"), capture.tooltip
    assert "Syncing - last sync" in captures[2].tooltip
    assert "Gateway login needed" in captures[1].tooltip
    for first, second in itertools.combinations(captures, 2):
        assert mean_difference(first.icon, second.icon) > 10, (first.state, second.state)
    # The person was told when they were needed (xorg has no balloons: the log has them).
    assert "notification: Veracity IBKR Connector: Gateway login needed" in log
    assert "notification: Veracity IBKR Connector: Needs a token" in log


def test_a_second_launch_and_a_click_on_the_icon_bring_up_the_status(
        tray_host: XServer, tmp_path: Path) -> None:
    from tests.support.processes import free_port
    from tests.tray.tray_driver import window_geometry

    env = {"VERACITY_URL": f"http://127.0.0.1:{free_port()}",
           "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}"}
    with running_tray_app(tray_host, tmp_path / "home", env) as app:
        app.wait_for_docked_state(ConnectorState.NEEDS_TOKEN)
        assert not tray_host.window_ids(" Status$")

        second = app.start()  # a second launch by the same user
        assert second.wait(timeout=60) == 0
        status_windows = wait_for_windows(tray_host, " Status$")
        tray_host.screenshot(ARTEFACTS / "status-after-second-launch.png")
        recorded = read_status(app.home / "data")
        assert app.process is not None and recorded is not None
        assert recorded.pid == app.process.pid  # one engine: the first launch's

        tray_host.run("xdotool", "windowfocus", "--sync", status_windows[0], "key", "Escape")
        wait_until_gone(tray_host, " Status$")  # Escape closes it, as Close would
        icon = window_geometry(tray_host, app.icon_window() or "")
        tray_host.run("xdotool", "mousemove", str(icon.x + icon.width // 2),
                      str(icon.y + icon.height // 2), "click", "1")
        wait_for_windows(tray_host, " Status$")
        tray_host.screenshot(ARTEFACTS / "status-after-icon-click.png")
        assert app.stop() == 0


def wait_for_windows(server: XServer, name: str, timeout_s: float = 30.0) -> list[str]:
    return wait_until(lambda: server.window_ids(name), timeout_s, f"a window named like {name!r}")


def wait_until_gone(server: XServer, name: str, timeout_s: float = 30.0) -> None:
    wait_until(lambda: not server.window_ids(name), timeout_s,
               f"the windows named like {name!r} to close")


def test_a_setup_problem_shows_the_error_icon(tray_host: XServer, tmp_path: Path) -> None:
    from tests.support.processes import free_port

    # The person chose the OS credential store, and this machine has none that works.
    env = {"VERACITY_URL": f"http://127.0.0.1:{free_port()}",
           "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}",
           "IBKR_CONNECTOR_KEY_STORE": "keyring",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    with running_tray_app(tray_host, tmp_path / "home", env) as app:
        capture = app.wait_for_docked_state(ConnectorState.ERROR)
        assert "Error - last sync never" in capture.tooltip
        assert app.stop() == 0
