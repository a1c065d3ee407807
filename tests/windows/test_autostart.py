""""Start with Windows" in the Windows build under wine: the connector's own platform code
writes and deletes its value under HKCU\\...\\Run; the registry is read back with wine's
`reg.exe` and with raw winreg, and the stored command line is split the way Windows splits it
(CommandLineToArgvW) and run through CreateProcess, so a path with spaces (and non-ASCII
letters) must be quoted right to work."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.windows.conftest import WindowsConnector

pytestmark = pytest.mark.windows

RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"
ENTRY = "VeracityIBKRConnector"  # veracity_connector.platform.base.AUTOSTART_ENTRY
INSTALL_FOLDER = r"C:\Program Files\Veracity IBKR Connector (Zoë)"
INSTALLED_EXE = INSTALL_FOLDER + r"\ibkr-connector.exe"

# argv: on-installed | on-source | off. Prints JSON: what the platform says, the raw value,
# how Windows splits it, and (for the installed exe) what running it with --version printed.
DRIVER = textwrap.dedent('''\
    import ctypes, json, subprocess, sys, winreg
    from ctypes import wintypes
    from veracity_connector.platform import autostart_command, current_platform

    action = sys.argv[1]
    if action == "on-installed":  # what a frozen (installed) connector registers
        sys.frozen = True
        sys.executable = sys.argv[2]
    platform = current_platform()
    platform.set_autostart(action != "off", autostart_command())

    def split(command_line):
        CommandLineToArgvW = ctypes.windll.shell32.CommandLineToArgvW
        CommandLineToArgvW.restype = ctypes.POINTER(wintypes.LPWSTR)
        count = ctypes.c_int()
        argv = CommandLineToArgvW(command_line, ctypes.byref(count))
        return [argv[index] for index in range(count.value)]

    report = {"enabled": platform.autostart_enabled(), "command": autostart_command()}
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER,
                            r"Software\\Microsoft\\Windows\\CurrentVersion\\Run") as key:
            value, kind = winreg.QueryValueEx(key, "VeracityIBKRConnector")
        report.update(value=value, kind=kind, argv=split(value))
        if action == "on-installed":  # CreateProcess takes the stored line as it is
            ran = subprocess.run(value + " --version", capture_output=True, timeout=120)
            report["ran"] = [ran.returncode, ran.stdout.decode("utf-8", "replace")]
    except FileNotFoundError:
        report["value"] = None
    print(json.dumps(report))
    ''')


@pytest.fixture
def autostart(wine_prefix: Any, tmp_path: Path) -> Iterator[WindowsConnector]:
    """The prefix's Windows Python; the Run value removed again afterwards."""
    connector = WindowsConnector(wine_prefix, tmp_path, "", "")
    connector.settings = {}
    # C.UTF-8 (glibc's one UTF-8 locale here): wine decodes the Unix command line with it, so
    # the "ë" in the install path reaches Windows intact.
    base_env = connector.env("utf-8")
    connector.env = lambda code_page: {**base_env, "LC_ALL": "C.UTF-8"}  # type: ignore
    (tmp_path / "autostart.py").write_text(DRIVER, encoding="utf-8")
    try:
        yield connector
    finally:
        connector.run(["reg", "delete", RUN_KEY, "/v", ENTRY, "/f"])
        connector.run(["reg", "delete", RUN_KEY, "/v", "SomeoneElse", "/f"])


def set_autostart(connector: WindowsConnector, *args: str) -> dict[str, Any]:
    result = connector.run(["python", "-X", "utf8", connector.home_windows + r"\autostart.py",
                            *args], code_page="utf-8")
    assert result.returncode == 0 and result.text.strip(), result
    return json.loads(result.text.strip().splitlines()[-1])


def reg_query(connector: WindowsConnector) -> subprocess.CompletedProcess[str]:
    """wine's reg.exe, not Python: `reg query HKCU\\...\\Run /v VeracityIBKRConnector`."""
    # reg.exe prints in the OEM code page ("ë" is 0x89 in cp850): decoded leniently, the
    # test reads only the ASCII part of the path from it.
    result = connector.run(["reg", "query", RUN_KEY, "/v", ENTRY], code_page="cp1252")
    return subprocess.CompletedProcess(["reg"], result.returncode, result.text)


@pytest.fixture
def installed_exe(wine_prefix: Any) -> Iterator[str]:
    """A runnable exe in a folder with spaces and non-ASCII letters: pip's launcher for
    ibkr-connector (its #! line names C:\\Python311\\python.exe, so it runs from anywhere)."""
    drive_c = Path(wine_prefix.prefix) / "drive_c"
    folder = drive_c / INSTALL_FOLDER[3:].replace("\\", "/")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(drive_c / "Python311" / "Scripts" / "ibkr-connector.exe",
                    folder / "ibkr-connector.exe")
    try:
        yield INSTALLED_EXE
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_start_with_windows_on_and_off_for_an_install_path_with_spaces(
        autostart: WindowsConnector, installed_exe: str) -> None:
    assert autostart.run(["reg", "add", RUN_KEY, "/v", "SomeoneElse", "/t", "REG_SZ", "/d",
                          "other.exe", "/f"]).returncode == 0

    on = set_autostart(autostart, "on-installed", installed_exe)

    assert on["enabled"] is True, on
    assert on["value"] == f'"{installed_exe}"', on  # quoted: spaces in the path
    assert on["kind"] == 1, on  # REG_SZ
    assert on["argv"] == [installed_exe], on  # Windows splits it back into the one path
    returncode, printed = on["ran"]
    assert returncode == 0 and printed.startswith("ibkr-connector "), on
    queried = reg_query(autostart)
    assert queried.returncode == 0, queried
    assert "REG_SZ" in queried.stdout and "Veracity IBKR Connector" in queried.stdout, queried

    off = set_autostart(autostart, "off")

    assert off["enabled"] is False and off["value"] is None, off
    assert reg_query(autostart).returncode != 0  # the value is gone
    other = autostart.run(["reg", "query", RUN_KEY, "/v", "SomeoneElse"])
    assert other.returncode == 0 and "other.exe" in other.text, other  # others' untouched
    assert set_autostart(autostart, "off")["enabled"] is False  # off twice: still fine


def test_start_with_windows_from_a_source_install_uses_pythonw(
        autostart: WindowsConnector) -> None:
    on = set_autostart(autostart, "on-source")

    assert on["enabled"] is True, on
    executable, *arguments = on["argv"]
    assert executable.lower().endswith(r"\pythonw.exe"), on  # no console window at login
    assert arguments == ["-m", "veracity_connector"], on
    assert on["argv"] == on["command"], on
    drive_c = Path(autostart.prefix.prefix) / "drive_c"
    assert (drive_c / executable[3:].replace("\\", "/")).is_file(), on
