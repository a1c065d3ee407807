"""Fixtures for tray and dialog tests: a private X server, a tray host, the dialog thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server_fixtures import start_live_server
from tests.tray.x_server import ARTEFACTS, XServer, running_tray_host, running_xvfb
from veracity_connector.dialogs.host import DialogHost


@pytest.fixture(scope="session")
def x_server() -> Iterator[XServer]:
    """Xvfb on a free display number for the whole session."""
    with running_xvfb() as server:
        yield server


@pytest.fixture(scope="session")
def tray_host(x_server: XServer) -> Iterator[XServer]:
    """The X server with trayer running as its system tray."""
    with running_tray_host(x_server, ARTEFACTS / "trayer.log"):
        yield x_server


@pytest.fixture(scope="session")
def dialog_host(x_server: XServer) -> Iterator[DialogHost]:
    """The dialogs' Tk thread, on the private X server."""
    host = DialogHost(display=x_server.display)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[Any]:
    """A live server publishing connector 9.9.9 (an installer file served by the server)."""
    installer = tmp_path / "VeracityIBKRConnector-9.9.9-Setup.exe"
    installer.write_bytes(b"MZ fake installer")
    env = {"IBKR_CONNECTOR_WINDOWS_FILE": str(installer),
           "IBKR_CONNECTOR_WINDOWS_VERSION": "9.9.9",
           "IBKR_CONNECTOR_WINDOWS_NOTES": "Faster syncing."}
    (tmp_path / "release-server").mkdir()
    with start_live_server(tmp_path / "release-server", env=env, workers=1) as server:
        yield server
