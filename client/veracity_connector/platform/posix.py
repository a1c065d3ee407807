"""Linux (XDG autostart) and other POSIX systems (autostart unsupported)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from veracity_connector.platform.base import (
    APP_NAME,
    AUTOSTART_ENTRY,
    PlatformServices,
    UnsupportedOnPlatform,
)


class PosixPlatform(PlatformServices):
    """Process handling shared by every POSIX system; autostart unsupported."""

    name = "posix"

    def __init__(self, opener: Callable[[str], object] | None = None) -> None:
        # webbrowser finds xdg-open / open and never writes to our stdout.
        self._opener = opener or webbrowser.open

    @property
    def autostart_supported(self) -> bool:
        """No autostart mechanism we know how to use here."""
        return False

    def autostart_enabled(self) -> bool:
        """Never enabled: unsupported."""
        return False

    def set_autostart(self, enabled: bool, command: Sequence[str]) -> None:
        """Unsupported: say so."""
        raise UnsupportedOnPlatform("Starting at login is not supported on this system; "
                                    "add `ibkr-connector` to your session's startup programs.")

    def background_process_options(self) -> dict[str, Any]:
        """A new session = a new process group, so the whole tree can be signalled at once."""
        return {"start_new_session": True}

    def stop_process_tree(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        """SIGTERM the process group (run.sh and java), SIGKILL if it does not go."""
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)
        # The leader may have exited while a child kept running: sweep the group once more.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def open_folder(self, folder: Path) -> None:
        """The file manager shows the folder."""
        self._opener(folder.resolve().as_uri())

    def open_url(self, url: str) -> None:
        """The default browser opens the URL."""
        self._opener(url)


class LinuxPlatform(PosixPlatform):
    """Linux desktops: autostart through an XDG `.desktop` file in ~/.config/autostart."""

    name = "linux"

    def __init__(self, opener: Callable[[str], object] | None = None,
                 config_home: Path | None = None) -> None:
        super().__init__(opener)
        self._config_home = config_home

    @property
    def autostart_supported(self) -> bool:
        """XDG autostart works on every freedesktop session."""
        return True

    @property
    def autostart_file(self) -> Path:
        """~/.config/autostart/VeracityIBKRConnector.desktop (XDG_CONFIG_HOME honoured)."""
        config_home = self._config_home or Path(
            os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return config_home / "autostart" / f"{AUTOSTART_ENTRY}.desktop"

    def autostart_enabled(self) -> bool:
        """True when our .desktop file exists and is not hidden."""
        try:
            text = self.autostart_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        return "Hidden=true" not in text

    def set_autostart(self, enabled: bool, command: Sequence[str]) -> None:
        """Write or remove the .desktop file."""
        path = self.autostart_file
        if not enabled:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        exec_line = " ".join(shlex.quote(part) for part in command)
        path.write_text(
            "[Desktop Entry]\n"
            "Type=Application\n"
            f"Name={APP_NAME}\n"
            "Comment=Keeps Veracity in sync with your IBKR portfolio\n"
            f"Exec={exec_line}\n"
            "Terminal=false\n"
            "X-GNOME-Autostart-enabled=true\n",
            encoding="utf-8")
