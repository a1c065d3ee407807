"""The Windows paths of the platform seam, with winreg, startfile and taskkill replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.platform.fake_winreg import HKEY_CURRENT_USER, FakeRegistry
from veracity_connector.platform.base import AUTOSTART_ENTRY
from veracity_connector.platform.windows import (
    CREATE_NEW_PROCESS_GROUP,
    CREATE_NO_WINDOW,
    RUN_KEY,
    WindowsPlatform,
)

INSTALLED_EXE = r"C:\Users\Ann Smith\AppData\Local\VeracityIBKRConnector\current\ibkr-connector.exe"


def make_platform(registry: FakeRegistry | None = None, opened: list[str] | None = None,
                  commands: list[list[str]] | None = None) -> WindowsPlatform:
    def run_command(command: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
        assert options["creationflags"] & CREATE_NO_WINDOW  # taskkill must not flash a console
        (commands if commands is not None else []).append(command)
        # What taskkill /T /F does: end the process and the processes it started.
        pid = int(command[command.index("/PID") + 1])
        os.killpg(pid, signal.SIGKILL)
        return subprocess.CompletedProcess(command, 0, b"", b"")

    return WindowsPlatform(registry=registry or FakeRegistry(),
                           start_file=(opened if opened is not None else []).append,
                           run_command=run_command)


def test_autostart_is_off_when_the_run_key_does_not_exist() -> None:
    assert make_platform().autostart_enabled() is False


def test_enabling_autostart_writes_a_quoted_command_under_hkcu_run() -> None:
    registry = FakeRegistry()
    platform = make_platform(registry)

    platform.set_autostart(True, [INSTALLED_EXE])

    key = registry.keys[(HKEY_CURRENT_USER, RUN_KEY.lower())]
    value, kind = key.store[AUTOSTART_ENTRY]
    assert value == f'"{INSTALLED_EXE}"'  # quoted: the path has a space
    assert kind == registry.REG_SZ
    assert platform.autostart_enabled() is True


def test_disabling_autostart_removes_only_our_value_and_is_idempotent() -> None:
    registry = FakeRegistry()
    platform = make_platform(registry)
    platform.set_autostart(True, [INSTALLED_EXE])
    key = registry.keys[(HKEY_CURRENT_USER, RUN_KEY.lower())]
    key.store["OtherApp"] = ("other.exe", registry.REG_SZ)

    platform.set_autostart(False, [INSTALLED_EXE])
    platform.set_autostart(False, [INSTALLED_EXE])

    assert platform.autostart_enabled() is False
    assert key.store == {"OtherApp": ("other.exe", registry.REG_SZ)}


def test_background_processes_get_no_console_window() -> None:
    options = make_platform().background_process_options()
    assert options["creationflags"] & CREATE_NO_WINDOW
    assert options["creationflags"] & CREATE_NEW_PROCESS_GROUP
    assert "start_new_session" not in options


def test_folders_and_urls_are_handed_to_the_shell() -> None:
    opened: list[str] = []
    platform = make_platform(opened=opened)
    platform.open_folder(Path("C:/Users/ann/AppData/Local/Veracity/logs"))
    platform.open_url("https://localhost:5000/")
    assert opened == [str(Path("C:/Users/ann/AppData/Local/Veracity/logs")),
                      "https://localhost:5000/"]


def test_the_gateway_starts_with_run_bat_and_the_relative_conf_path(tmp_path: Path) -> None:
    command = make_platform().gateway_run_script(tmp_path)
    assert command == [str(tmp_path / "bin" / "run.bat"), r"root\conf.yaml"]


@pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX process group as the tree")
def test_stopping_the_gateway_uses_taskkill_on_the_whole_tree() -> None:
    commands: list[list[str]] = []
    platform = make_platform(commands=commands)
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)

    platform.stop_process_tree(process, timeout_s=5)

    assert commands == [["taskkill", "/PID", str(process.pid), "/T", "/F"]]
    assert process.poll() is not None
    platform.stop_process_tree(process, timeout_s=5)  # already stopped: nothing to do
    assert len(commands) == 1
