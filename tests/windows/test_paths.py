"""Data and paths in the Windows build under wine, for a Windows user called "Zoë Müller".

Wine builds the profile (`C:\\users\\<name>`) and the shell's known folders from the Unix user
name and ignores USERPROFILE/LOCALAPPDATA from the environment, and platformdirs asks the shell
(SHGetKnownFolderPath through ctypes), not the environment: so the user is made real by running
a wineserver of its own with USER/LOGNAME set to that name. Then, with no folder override:
the connector's folders are under that user's %LOCALAPPDATA%; `doctor` accepts a gateway folder
whose path has spaces and non-ASCII letters; the log rotates and every file is UTF-8 with the
name intact.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port
from tests.windows.conftest import WindowsConnector, windows_path

pytestmark = pytest.mark.windows

USER_NAME = "Zoë Müller"
LOCAL_APP_DATA = rf"C:\users\{USER_NAME}\AppData\Local"
CONNECTOR_FOLDER = LOCAL_APP_DATA + r"\Veracity\VeracityIBKRConnector"

# Prints the folders as the connector sees them, then logs ~1.5 MB through the connector's own
# logging set-up (rotation at 1 MB) with the folder's name in every line.
DRIVER = textwrap.dedent('''\
    import ctypes, json, logging, os
    from ctypes import wintypes
    import platformdirs
    from veracity_connector.logging_setup import configure_logging
    from veracity_connector.settings import Folders

    folders = Folders.from_environment()
    log_file = configure_logging(folders.log_dir, "INFO", to_stderr=False)
    logger = logging.getLogger("veracity_connector.paths_check")
    for number in range(3000):
        logger.info("line %05d: settings in %s, data in %s %s", number, folders.config_dir,
                    folders.data_dir, "x" * 300)
    logging.shutdown()
    print(json.dumps({
        "config": str(folders.config_dir), "data": str(folders.data_dir),
        "logs": str(folders.log_dir), "log_file": str(log_file),
        "local_app_data_env": os.environ.get("LOCALAPPDATA"),
        "platformdirs": platformdirs.user_data_dir("VeracityIBKRConnector", "Veracity"),
        "log_files": sorted(os.listdir(folders.log_dir)),
    }))
    ''')


@pytest.fixture
def zoe(wine_prefix: Any, tmp_path: Path) -> Iterator[WindowsConnector]:
    """The prefix's programs run as the Windows user "Zoë Müller" (a wineserver of their own;
    the session's warm server is back afterwards)."""
    connector = WindowsConnector(wine_prefix, tmp_path, "", "")
    connector.settings = {}
    normal_env = wine_prefix.env()
    # C.UTF-8: the one UTF-8 locale glibc always has; wine decodes the Unix user name with it
    # (a locale glibc lacks, such as hi_IN.UTF-8 here, turns "Zoë" into "ZoC+").
    zoe_base = {**connector.env("utf-8"), "USER": USER_NAME, "LOGNAME": USER_NAME,
                "LC_ALL": "C.UTF-8"}
    connector.env = lambda code_page: zoe_base  # type: ignore[method-assign]
    profile = Path(wine_prefix.prefix) / "drive_c" / "users" / USER_NAME
    restart_server(normal_env, zoe_base)
    try:
        yield connector
    finally:
        restart_server(zoe_base, normal_env)
        subprocess.run(["rm", "-rf", "--", str(profile)], check=False)


def restart_server(old_env: dict[str, str], new_env: dict[str, str]) -> None:
    """End the prefix's wineserver, start a warm one for `new_env` (helpers off any pipe)."""
    quiet: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
                             "stderr": subprocess.DEVNULL}
    subprocess.run(["wineserver", "-k"], env=old_env, check=False, **quiet)
    subprocess.run(["wineserver", "-w"], env=old_env, check=False, timeout=60, **quiet)
    subprocess.run(["wineserver", "-p"], env=new_env, check=True, **quiet)
    subprocess.run(["wine", "cmd", "/c", "exit"], env=new_env, check=False, timeout=120, **quiet)


def test_folders_are_under_the_users_local_app_data_and_logs_rotate_readably(
        zoe: WindowsConnector, wine_prefix: Any) -> None:
    (zoe.home / "paths.py").write_text(DRIVER, encoding="utf-8")

    result = zoe.run(["python", "-X", "utf8", zoe.home_windows + r"\paths.py"],
                     code_page="utf-8")

    assert result.returncode == 0, result
    report = json.loads(result.text.strip().splitlines()[-1])
    assert report["local_app_data_env"] == LOCAL_APP_DATA, report
    assert report["platformdirs"] == CONNECTOR_FOLDER, report  # the shell's known folder
    assert report["config"] == report["data"] == CONNECTOR_FOLDER, report  # Windows: one
    assert report["logs"] == CONNECTOR_FOLDER + r"\Logs", report
    assert report["log_files"] == ["connector.log", "connector.log.1"], report  # ~1.5 MB of
    # lines at 1 MB per file: rotated once

    log_folder = Path(wine_prefix.prefix) / "drive_c" / report["logs"][3:].replace("\\", "/")
    assert log_folder.is_dir(), report  # the same folder, seen from Linux
    lines = 0
    for name in report["log_files"]:
        text = (log_folder / name).read_bytes().decode("utf-8")  # strict: readable UTF-8
        assert f"settings in {report['config']}" in text, name
        assert USER_NAME in text
        assert len((log_folder / name).read_bytes()) <= 1_000_000, name
        lines += text.count("veracity_connector.paths_check")
    assert lines == 3000  # nothing lost in the rotation


def test_doctor_accepts_a_gateway_folder_with_spaces_and_non_ascii_letters(
        zoe: WindowsConnector, wine_prefix: Any) -> None:
    downloads = Path(wine_prefix.prefix) / "drive_c" / "users" / USER_NAME / "Downloads"
    gateway = downloads / "clientportal.gw (Zoë)"
    (gateway / "bin").mkdir(parents=True)
    (gateway / "root").mkdir()
    (gateway / "bin" / "run.bat").write_text("@echo off\r\n", encoding="ascii")
    port = free_port()
    (gateway / "root" / "conf.yaml").write_text(f"listenPort: {port}\nlistenSsl: true\n",
                                                encoding="utf-8")
    gateway_windows = rf"C:\users\{USER_NAME}\Downloads\clientportal.gw (Zoë)"
    zoe.settings = {"IBKR_GATEWAY_DIR": gateway_windows,
                    "IBKR_GATEWAY_URL": f"https://localhost:{port}"}
    base_env = zoe.env("utf-8")
    zoe.env = lambda code_page: {**base_env, **zoe.settings}  # type: ignore[method-assign]

    # Its output is in the ANSI code page (cp1252 for C.UTF-8), which has "ë" and "ü".
    doctor = zoe("doctor", code_page="cp1252")

    assert "Traceback" not in doctor.text, doctor
    assert f"[OK  ] gateway folder: {gateway_windows} (run script run.bat)" in doctor.flat, doctor
    assert windows_path(gateway) != gateway_windows  # the test used the Windows spelling
