"""Linux and other POSIX systems: XDG autostart, process-group stops, opening things."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from veracity_connector.platform import autostart_command, current_platform
from veracity_connector.platform.base import UnsupportedOnPlatform
from veracity_connector.platform.posix import LinuxPlatform, PosixPlatform

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")


def wait_for_content(path: Path, timeout_s: float = 10.0) -> str:
    """The file's text once something has written it (the shell needs a moment to start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise TimeoutError(f"{path} stayed empty")


def wait_until_ended(process: psutil.Process, timeout_s: float = 10.0) -> bool:
    """True once the process is gone (or a zombie nobody has reaped yet)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_xdg_autostart_writes_and_removes_a_desktop_file(tmp_path: Path) -> None:
    platform = LinuxPlatform(config_home=tmp_path)
    assert platform.autostart_enabled() is False

    platform.set_autostart(True, ["/opt/veracity connector/bin/python", "-m", "veracity_connector"])

    desktop = (tmp_path / "autostart" / "VeracityIBKRConnector.desktop").read_text()
    assert "Exec='/opt/veracity connector/bin/python' -m veracity_connector\n" in desktop
    assert "Type=Application" in desktop
    assert platform.autostart_enabled() is True

    platform.set_autostart(False, [])
    platform.set_autostart(False, [])
    assert platform.autostart_enabled() is False


def test_autostart_elsewhere_says_it_is_unsupported() -> None:
    platform = PosixPlatform(opener=lambda url: None)
    assert platform.autostart_supported is False
    with pytest.raises(UnsupportedOnPlatform, match="not supported"):
        platform.set_autostart(True, ["ibkr-connector"])


def test_folders_open_as_file_urls_and_urls_as_is(tmp_path: Path) -> None:
    opened: list[str] = []
    platform = LinuxPlatform(opener=opened.append, config_home=tmp_path)
    platform.open_folder(tmp_path)
    platform.open_url("https://localhost:5001/")
    assert opened == [tmp_path.resolve().as_uri(), "https://localhost:5001/"]


def test_stop_process_tree_stops_children_too(tmp_path: Path) -> None:
    platform = LinuxPlatform(config_home=tmp_path)
    child_pid_file = tmp_path / "child.pid"
    # Like run.sh starting java: the shell's child must not outlive a stop.
    process = subprocess.Popen(
        ["sh", "-c", f'sleep 300 & echo $! > "{child_pid_file}"; wait'],
        **platform.background_process_options())
    child = psutil.Process(int(wait_for_content(child_pid_file)))

    platform.stop_process_tree(process, timeout_s=5)

    assert process.poll() is not None
    assert wait_until_ended(child)  # signals arrive asynchronously: give the kernel a moment


def test_current_platform_and_autostart_command_fit_this_system() -> None:
    platform = current_platform()
    assert platform.name == ("linux" if sys.platform.startswith("linux") else "posix")
    assert autostart_command() == [sys.executable, "-m", "veracity_connector"]
