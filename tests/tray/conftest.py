"""Fixtures for tray and dialog tests: a private X server, a tray host, the dialog thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client.dialogs.host import DialogHost
from tests.tray.x_server import ARTEFACTS, XServer, running_tray_host, running_xvfb


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
