"""Linux and other POSIX systems: XDG autostart, process-group stops, opening things."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.waiting import wait_until
from veracity_connector.platform import autostart_command, current_platform
from veracity_connector.platform.base import UnsupportedOnPlatform
from veracity_connector.platform.posix import LinuxPlatform, PosixPlatform

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")


def has_ended(process: psutil.Process) -> bool:
    """True once the process is gone (or a zombie nobody has reaped yet)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


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
    # The shell needs a moment to start and write it.
    child_pid = wait_until(lambda: child_pid_file.read_text().strip(), 10,
                           f"{child_pid_file} to be written", retry_on=(FileNotFoundError,))
    child = psutil.Process(int(child_pid))

    platform.stop_process_tree(process, timeout_s=5)

    assert process.poll() is not None
    # Signals arrive asynchronously: give the kernel a moment.
    wait_until(lambda: has_ended(child), 10, "the shell's child to end")


def test_current_platform_and_autostart_command_fit_this_system() -> None:
    platform = current_platform()
    assert platform.name == ("linux" if sys.platform.startswith("linux") else "posix")
    assert autostart_command() == [sys.executable, "-m", "veracity_connector"]
