"""`package`: turn the Windows onedir build into a Velopack installer and update feed.

`vpk` is Velopack's .NET tool (`dotnet tool install -g vpk`). On Windows it runs as `vpk pack`.
Elsewhere it cross-packs a Windows build with the `[win]` directive (`vpk [win] pack`): the
Windows build itself must still come from Windows (PyInstaller does not cross-compile), e.g. a
Linux job can pack a build folder that a Windows job made (signing needs Windows's
signtool, or Azure Trusted Signing).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from veracity_release.artifacts import find_release_artifacts
from veracity_release.build import TRAY_EXE_NAME, executable_name
from veracity_release.errors import ReleaseError
from veracity_release.versioning import REPO_ROOT, checked_version

PACK_ID = "VeracityIBKRConnector"
PACK_TITLE = "Veracity IBKR Connector"
PACK_AUTHORS = "Veracity"
CHANNEL = "win"
ICON_PATH = REPO_ROOT / "installer" / "windows" / "ibkr-connector.ico"


@dataclass(frozen=True)
class PackageOptions:
    """Inputs of `vpk pack`; `delta_from` is the live feed URL to fetch the previous release."""

    build_dir: Path
    output_dir: Path
    version: str
    sign_params: str | None = None
    azure_trusted_sign_file: Path | None = None
    delta_from: str | None = None
    cross_pack: bool = sys.platform != "win32"


def vpk_command(vpk: str, subcommand: list[str], cross_pack: bool) -> list[str]:
    """`vpk <subcommand>`, or `vpk [win] <subcommand>` when packing from another OS."""
    return [vpk, *(["[win]"] if cross_pack else []), *subcommand]


def pack_arguments(options: PackageOptions) -> list[str]:
    """Arguments of `vpk pack` for the connector."""
    arguments = ["pack", "--packId", PACK_ID, "--packVersion", options.version,
                 "--packDir", str(options.build_dir),
                 "--mainExe", executable_name(TRAY_EXE_NAME, windows=True),
                 "--packTitle", PACK_TITLE, "--packAuthors", PACK_AUTHORS,
                 "--channel", CHANNEL, "--outputDir", str(options.output_dir),
                 "--icon", str(ICON_PATH)]
    if options.sign_params:
        arguments += ["--signParams", options.sign_params]
    if options.azure_trusted_sign_file:
        arguments += ["--azureTrustedSignFile", str(options.azure_trusted_sign_file)]
    return arguments


def package_release(options: PackageOptions, report: Callable[[str], None]) -> Path:
    """Run vpk (download previous release if asked, then pack) and check its output."""
    version = checked_version(options.version)
    if options.sign_params and options.azure_trusted_sign_file:
        raise ReleaseError("choose one way to sign: --sign-params or --azure-trusted-sign-file")
    vpk = shutil.which("vpk")
    if vpk is None:
        raise ReleaseError("vpk (Velopack CLI) not found on PATH; install it with "
                           "`dotnet tool install -g vpk` (needs the .NET 8 SDK)")
    main_exe = options.build_dir / executable_name(TRAY_EXE_NAME, windows=True)
    if not main_exe.is_file():
        raise ReleaseError(
            f"{main_exe} not found: package needs a Windows build (PyInstaller cannot "
            "cross-compile; run `veracity-release build` on Windows first)"
        )
    options.output_dir.mkdir(parents=True, exist_ok=True)
    steps = 3 if options.delta_from else 2
    if options.delta_from:
        report(f"[1/{steps}] fetch the previous release from {options.delta_from} for deltas")
        _run_vpk(vpk_command(vpk, ["download", "http", "--url", options.delta_from,
                                   "--outputDir", str(options.output_dir)], options.cross_pack))
    report(f"[{steps - 1}/{steps}] vpk pack {PACK_ID} {version} -> {options.output_dir}")
    _run_vpk(vpk_command(vpk, pack_arguments(options), options.cross_pack))
    report(f"[{steps}/{steps}] check the installer and feed for {version}")
    find_release_artifacts(options.output_dir, version)
    return options.output_dir


def _run_vpk(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise ReleaseError(f"{' '.join(command[:3])} failed (exit {completed.returncode}):\n"
                           f"{(completed.stdout + completed.stderr)[-4000:]}")
