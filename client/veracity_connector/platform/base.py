"""What the tray and the launcher need from the operating system, as one small interface.

Everything platform-specific (the registry, console flags, how a folder is opened) goes through
`PlatformServices`, so the Windows paths can be tested on Linux with the platform calls replaced
at this one seam (see `veracity_connector.platform.windows.WindowsPlatform`).
"""

from __future__ import annotations

import abc
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

APP_NAME = "Veracity IBKR Connector"
# The name of the autostart entry (registry value / .desktop file stem). Never change it: an
# existing entry under the old name would be orphaned and the app would start twice.
AUTOSTART_ENTRY = "VeracityIBKRConnector"


class UnsupportedOnPlatform(RuntimeError):
    """The platform has no way to do this (e.g. autostart on macOS); the message says so."""


class ProcessTreeStopError(RuntimeError):
    """A process tree could not be ended: some of its processes are still running."""


class PlatformServices(abc.ABC):
    """Autostart, process flags, opening folders and URLs: the OS behind one interface."""

    name: str = "unknown"
    # The tray menu shows this as the autostart toggle's label.
    autostart_label: str = "Start at login"

    @abc.abstractmethod
    def autostart_enabled(self) -> bool:
        """True when the connector starts with the person's session."""

    @abc.abstractmethod
    def set_autostart(self, enabled: bool, command: Sequence[str]) -> None:
        """Register (or remove) `command` to run when the person logs in."""

    @property
    def autostart_supported(self) -> bool:
        """False where `set_autostart` can only raise `UnsupportedOnPlatform`."""
        return True

    @abc.abstractmethod
    def background_process_options(self) -> dict[str, Any]:
        """Popen keyword arguments: no console window, own process group (for tree stops)."""

    @abc.abstractmethod
    def stop_process_tree(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        """Stop `process` and every process it started; wait up to `timeout_s` per step.

        Raises ProcessTreeStopError when a process of the tree is still alive at the end."""

    @abc.abstractmethod
    def open_folder(self, folder: Path) -> None:
        """Show `folder` in the file manager."""

    @abc.abstractmethod
    def open_url(self, url: str) -> None:
        """Open `url` in the default browser."""

    def gateway_run_script(self, gateway_folder: Path) -> list[str]:
        """The command that starts IBKR's gateway from its folder (run from that folder)."""
        return ["bin/run.sh", "root/conf.yaml"]
