"""Windows: autostart via the per-user Run key, no console windows, tree stops with taskkill.

The registry module, `os.startfile` and the command runner are constructor arguments, so tests
replace them with fakes (a fake `winreg`) and run these paths on any OS.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from veracity_connector.platform.base import AUTOSTART_ENTRY, PlatformServices

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# Popen creation flags (winbase.h). Spelled out because `subprocess` only defines them on Windows.
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000

CommandRunner = Callable[..., subprocess.CompletedProcess[bytes]]


class WindowsPlatform(PlatformServices):
    """`PlatformServices` for Windows, with the OS calls injected."""

    name = "windows"
    autostart_label = "Start with Windows"

    def __init__(self, registry: ModuleType | Any, start_file: Callable[[str], None],
                 run_command: CommandRunner = subprocess.run) -> None:
        self._registry = registry
        self._start_file = start_file
        self._run_command = run_command

    def autostart_enabled(self) -> bool:
        """True when the Run key holds our entry."""
        try:
            with self._registry.OpenKey(self._registry.HKEY_CURRENT_USER, RUN_KEY, 0,
                                        self._registry.KEY_READ) as key:
                value, _kind = self._registry.QueryValueEx(key, AUTOSTART_ENTRY)
        except FileNotFoundError:
            return False
        return bool(value)

    def set_autostart(self, enabled: bool, command: Sequence[str]) -> None:
        """Write or delete our value under HKCU\\...\\Run (per user: no admin rights needed)."""
        with self._registry.CreateKeyEx(self._registry.HKEY_CURRENT_USER, RUN_KEY, 0,
                                        self._registry.KEY_SET_VALUE) as key:
            if enabled:
                # Quoted like a command line, because the install path has spaces.
                self._registry.SetValueEx(key, AUTOSTART_ENTRY, 0, self._registry.REG_SZ,
                                          subprocess.list2cmdline(list(command)))
            else:
                with contextlib.suppress(FileNotFoundError):  # already off
                    self._registry.DeleteValue(key, AUTOSTART_ENTRY)

    def background_process_options(self) -> dict[str, Any]:
        """No console window (the gateway is a console program); own group for Ctrl-Break."""
        return {"creationflags": CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP}

    def stop_process_tree(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        """taskkill /T stops run.bat's cmd.exe *and* the java.exe it started."""
        if process.poll() is not None:
            return
        self._run_command(["taskkill", "/PID", str(process.pid), "/T", "/F"],
                          capture_output=True, check=False, timeout=timeout_s,
                          creationflags=CREATE_NO_WINDOW)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)

    def open_folder(self, folder: Path) -> None:
        """Explorer shows the folder."""
        self._start_file(str(folder))

    def open_url(self, url: str) -> None:
        """The default browser opens the URL (startfile hands URLs to the shell)."""
        self._start_file(url)

    def gateway_run_script(self, gateway_folder: Path) -> list[str]:
        """run.bat must be called from the gateway folder with the relative conf path."""
        return [str(gateway_folder / "bin" / "run.bat"), r"root\conf.yaml"]
