"""The frozen Windows build: PyInstaller (the release pipeline's pin, installed into the prefix as
the `pyinstaller` requirement set) builds installer/windows's spec under wine's Windows CPython;
the built `ibkr-connector-cli.exe` answers --version, pairs into the Windows vault and syncs
against the simulator and the Linux server. The build's size is printed, and nothing server-side
is inside it."""

from __future__ import annotations

import ast
import os
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.server_fixtures import REPO_ROOT
from tests.windows.conftest import WINDOWS_EMAIL, WindowsConnector, windows_path
from tests.windows.wine_desktop import ARTEFACTS

# The build alone takes about a minute on an idle machine, several on a busy CI runner.
pytestmark = [pytest.mark.windows, pytest.mark.slow, pytest.mark.timeout(1500)]

SPEC = REPO_ROOT / "installer" / "windows" / "ibkr-connector.spec"
APP_FOLDER = "ibkr-connector"  # release/veracity_release/build.py: APP_FOLDER_NAME
CLI_EXE = "ibkr-connector-cli.exe"
TRAY_EXE = "ibkr-connector.exe"
VERSION = tomllib.loads((REPO_ROOT / "client" / "pyproject.toml").read_text())["project"][
    "version"]
# Top-level packages of the server, the simulator, the release tooling and test tools: none may
# reach the connector users install.
SERVER_SIDE = ("flask", "werkzeug", "sqlalchemy", "alembic", "gunicorn", "boto3", "botocore",
               "s3transfer", "psycopg", "redis", "veracity_server", "ibkr_gateway_sim",
               "veracity_release", "pytest", "playwright", "moto")
# What the Windows build must contain for the tray and the vault to work (named in the spec).
REQUIRED_MODULES = ("veracity_connector.cli", "veracity_connector.tray.app", "pystray._win32",
                    "keyring.backends.Windows", "win32ctypes.pywin32.win32cred")


@dataclass(frozen=True)
class FrozenBuild:
    folder: Path
    modules: frozenset[str]  # every module in the build's PYZ archive
    seconds: float

    @property
    def cli(self) -> str:
        return windows_path(self.folder / CLI_EXE)

    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.folder.rglob("*") if path.is_file())


def archived_modules(work_dir: Path) -> frozenset[str]:
    """The module names PyInstaller put into the PYZ archive (its own table of contents)."""
    [toc] = work_dir.rglob("PYZ-00.toc")
    entries = ast.literal_eval(toc.read_text())
    # ('PYZ-00.pyz', [(name, path, kind), ...]) in PyInstaller 6.
    table = entries[1] if isinstance(entries, tuple) and len(entries) == 2 else entries
    return frozenset(entry[0] for entry in table)


@pytest.fixture(scope="module")
def frozen_build(wine_prefix: Any, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[FrozenBuild]:
    """`python -m PyInstaller --noconfirm --clean ... ibkr-connector.spec` as `veracity-release
    build` runs it, under wine's Windows CPython (the prefix holds the pinned PyInstaller)."""
    root = tmp_path_factory.mktemp("frozen")
    dist, work = root / "dist", root / "work"
    env = {**wine_prefix.env(), "VERACITY_CONNECTOR_VERSION": VERSION}
    started = time.monotonic()
    completed = subprocess.run(
        ["wine", "python", "-m", "PyInstaller", "--noconfirm", "--clean",
         "--distpath", windows_path(dist), "--workpath", windows_path(work), windows_path(SPEC)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=1200, check=False)
    seconds = time.monotonic() - started
    log = completed.stdout.decode("utf-8", errors="replace")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "pyinstaller.log").write_text(log)
    assert completed.returncode == 0, log[-6000:]
    folder = dist / APP_FOLDER
    assert (folder / CLI_EXE).is_file() and (folder / TRAY_EXE).is_file(), os.listdir(dist)
    yield FrozenBuild(folder, archived_modules(work), seconds)


def test_the_build_is_lean_and_complete(frozen_build: FrozenBuild,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    size = frozen_build.size_bytes()
    files = [path.relative_to(frozen_build.folder) for path in frozen_build.folder.rglob("*")]
    with capsys.disabled():
        print(f"\nfrozen Windows build: {size / 1e6:.1f} MB in {len(files)} files "
              f"({frozen_build.folder.name}/), built in {frozen_build.seconds:.0f} s")
    for name in REQUIRED_MODULES:
        assert name in frozen_build.modules, f"{name} is not in the build"
    top_level = {module.split(".")[0].lower() for module in frozen_build.modules}
    top_level |= {part.lower().split("-")[0] for path in files for part in path.parts}
    leaked = sorted(set(SERVER_SIDE) & top_level)
    assert not leaked, f"server-side or tooling packages in the connector's build: {leaked}"
    assert size < 120e6, f"the build grew to {size / 1e6:.0f} MB"


def test_the_built_cli_answers_version_and_doctor(frozen_build: FrozenBuild,
                                                  windows_connector: WindowsConnector) -> None:
    version = windows_connector.run([frozen_build.cli, "--version"])
    assert version.returncode == 0, version
    assert f"ibkr-connector {VERSION}" in version.text
    # A fresh install's doctor prints fix-it lines with characters cp1252 lacks.
    doctor = windows_connector.run([frozen_build.cli, "doctor"], code_page="cp1252")
    assert "Traceback" not in doctor.text and "UnicodeEncodeError" not in doctor.text, doctor
    assert doctor.returncode == 1 and "[FAIL] key: not paired" in doctor.flat, doctor


def test_the_built_cli_pairs_and_syncs_against_the_linux_server(
        frozen_build: FrozenBuild, windows_connector: WindowsConnector,
        windows_server: Any) -> None:
    windows_connector.vault_used = True
    paired = windows_connector.run([frozen_build.cli, "pair",
                                    windows_server.issue_token(WINDOWS_EMAIL)])
    assert paired.returncode == 0, paired
    assert "WinVaultKeyring" in paired.text, paired  # the frozen build found keyring's backend
    key = windows_connector.stored_key()
    assert key is not None and key.startswith("vck_")

    synced = windows_connector.run([frozen_build.cli, "sync", "--once"])
    assert synced.returncode == 0, synced
    # A build that Velopack did not install also prints Velopack's "NotInstalled" line first.
    assert any(line.startswith("delivered") for line in synced.text.splitlines()), synced
    portfolio = windows_server.login(WINDOWS_EMAIL).get(
        windows_server.url("/api/v1/profile/ibkr/portfolio"), timeout=10).json()
    [account] = portfolio["accounts"]
    assert [position["conid"] for position in account["positions"]] == [9001]
