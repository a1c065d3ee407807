"""`build`: the connector as a PyInstaller onedir folder, from installer/windows/'s spec.

PyInstaller cannot cross-compile: on Windows this makes the Windows build that `package` turns
into an installer; on Linux the same spec makes a Linux build (CI uses it to prove the spec and
the frozen app work). The build is smoke-tested: its CLI must answer `--version`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from veracity_release.errors import ReleaseError
from veracity_release.signing import load_signing_settings, sign_file
from veracity_release.versioning import REPO_ROOT, installed_version, project_version

SPEC_PATH = REPO_ROOT / "installer" / "windows" / "ibkr-connector.spec"
APP_FOLDER_NAME = "ibkr-connector"
# Two executables share one folder: the windowed tray app (Velopack's main exe) and a console
# twin for `--version`, `doctor` and scripts, because a windowed exe has no stdout on Windows.
TRAY_EXE_NAME = "ibkr-connector"
CLI_EXE_NAME = "ibkr-connector-cli"
VERSION_ENV = "VERACITY_CONNECTOR_VERSION"


def executable_name(stem: str, windows: bool = sys.platform == "win32") -> str:
    """File name of one of the built executables on the target platform."""
    return f"{stem}.exe" if windows else stem


def build_connector(dist_dir: Path, work_dir: Path, report: Callable[[str], None],
                    spec: Path = SPEC_PATH) -> Path:
    """Run PyInstaller on the spec, smoke-test the result, return the onedir folder."""
    version = project_version()
    report(f"[1/3] check that the installed metadata matches client/pyproject.toml ({version})")
    if installed_version() != version:
        raise ReleaseError(
            f"the installed package says {installed_version()} but client/pyproject.toml says "
            f"{version}; reinstall (`make venv` or `pip install -e ./client`) so the binary "
            "reports the right version"
        )
    if not spec.is_file():
        raise ReleaseError(f"PyInstaller spec not found: {spec}")
    report(f"[2/3] PyInstaller {spec.name} -> {dist_dir / APP_FOLDER_NAME}")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
               "--distpath", str(dist_dir), "--workpath", str(work_dir), str(spec)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False,
                               env={**os.environ, VERSION_ENV: version})
    if completed.returncode != 0:
        raise ReleaseError(f"PyInstaller failed (exit {completed.returncode}):\n"
                           f"{completed.stderr[-4000:]}")
    app_dir = dist_dir / APP_FOLDER_NAME
    report("[3/3] smoke test: the built CLI answers --version")
    check_built_version(app_dir / executable_name(CLI_EXE_NAME), version)
    signing = load_signing_settings()
    if sys.platform == "win32" and signing.configured:
        report("      sign the executables (Authenticode)")
        for stem in (TRAY_EXE_NAME, CLI_EXE_NAME):
            sign_file(app_dir / executable_name(stem), signing, report)
    elif sys.platform == "win32":
        report("      not signed: no certificate configured (VERACITY_SIGN_PFX_FILE); "
               "`publish` will refuse an unsigned installer")
    return app_dir


def check_built_version(cli_path: Path, version: str) -> None:
    """Run the built CLI with --version; its answer must name `version`."""
    if not cli_path.is_file():
        raise ReleaseError(f"the build has no {cli_path.name} in {cli_path.parent}")
    completed = subprocess.run([str(cli_path), "--version"], capture_output=True, text=True,
                               timeout=120, check=False)
    if completed.returncode != 0 or version not in completed.stdout:
        raise ReleaseError(
            f"{cli_path} --version exited {completed.returncode} with {completed.stdout!r} "
            f"{completed.stderr[-2000:]!r}; expected it to print {version}"
        )
