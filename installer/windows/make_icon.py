"""Regenerate ibkr-connector.ico (app + installer icon) from the tray's "syncing" image.

Run from the repository root when the tray artwork changes:
    .venv/bin/python installer/windows/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

from veracity_connector.state import ConnectorState
from veracity_connector.tray.icons import icon_for_state

ICON_PATH = Path(__file__).with_name("ibkr-connector.ico")
# The sizes Windows picks from: taskbar, Explorer views, installer, high-DPI.
ICON_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def write_icon(path: Path = ICON_PATH) -> Path:
    """Write the multi-resolution .ico file and return its path."""
    icon_for_state(ConnectorState.SYNCING, 256).save(path, format="ICO", sizes=ICON_SIZES)
    return path


if __name__ == "__main__":
    write_icon()
