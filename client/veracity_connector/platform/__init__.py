"""The one seam between the connector's UI and the operating system.

`current_platform()` picks the implementation: `WindowsPlatform` (winreg, os.startfile),
`LinuxPlatform` (XDG autostart), or `PosixPlatform` (autostart unsupported).
`autostart_command()` is the command line registered for autostart.
"""

from __future__ import annotations

import os
import sys
from functools import cache

from veracity_connector.platform.base import APP_NAME, PlatformServices, UnsupportedOnPlatform

__all__ = ["APP_NAME", "PlatformServices", "UnsupportedOnPlatform", "autostart_command",
           "current_platform"]


@cache
def current_platform() -> PlatformServices:
    """The services for the OS we run on."""
    if sys.platform == "win32":
        import winreg

        from veracity_connector.platform.windows import WindowsPlatform

        return WindowsPlatform(registry=winreg, start_file=os.startfile)
    if sys.platform.startswith("linux"):
        from veracity_connector.platform.posix import LinuxPlatform

        return LinuxPlatform()
    from veracity_connector.platform.posix import PosixPlatform

    return PosixPlatform()


def autostart_command() -> list[str]:
    """How to start the tray app again: the frozen executable, or `python -m veracity_connector`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    # pythonw on Windows so autostart does not open a console window.
    executable = sys.executable
    if sys.platform == "win32" and executable.lower().endswith("python.exe"):
        executable = executable[: -len("python.exe")] + "pythonw.exe"
    return [executable, "-m", "veracity_connector"]
