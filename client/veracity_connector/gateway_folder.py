"""Checking the folder the person unzipped IBKR's Client Portal Gateway into.

A usable folder has a run script (`bin/run.bat` on Windows, `bin/run.sh` elsewhere; either is
accepted as the gateway's layout) and `root/conf.yaml`, whose `listenPort`/`listenSsl` say where
the gateway listens. Java is needed to run the real gateway; its absence is reported separately
(a warning for `doctor`, not a layout problem). Reading conf.yaml and finding Java are the
launcher's (`veracity_connector.launcher`); this module composes them into one report.
Used by `ibkr-connector doctor` and by the tray's folder dialog (`folder_problems`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from veracity_connector.launcher.conf_file import (
    GatewayConfError,
    ListenSettings,
    read_listen_settings,
)
from veracity_connector.launcher.java import JAVA_HINT, find_java


@dataclass(frozen=True)
class GatewayFolderReport:
    """What a gateway folder holds and what is wrong with it."""

    folder: Path
    problems: list[str]
    run_script: Path | None
    conf_path: Path
    listen: ListenSettings | None
    java: Path | None

    @property
    def ok(self) -> bool:
        """True when the folder has the gateway's layout and a readable conf.yaml."""
        return not self.problems

    @property
    def java_hint(self) -> str:
        """How to get Java ("" when found)."""
        return "" if self.java else JAVA_HINT


def run_script_names() -> tuple[str, ...]:
    """The run scripts to look for, this platform's first."""
    return ("run.bat", "run.sh") if sys.platform == "win32" else ("run.sh", "run.bat")


def inspect_gateway_folder(folder: Path | str,
                           environ: Mapping[str, str] | None = None) -> GatewayFolderReport:
    """Check the layout, read where it listens and look for Java."""
    folder = Path(folder).expanduser()
    conf_path = folder / "root" / "conf.yaml"
    problems: list[str] = []
    run_script: Path | None = None
    listen: ListenSettings | None = None
    if not folder.is_dir():
        problems.append(f"{folder} is not a folder. Choose the folder you unzipped "
                        "clientportal.gw.zip into.")
    else:
        run_script = next((folder / "bin" / name for name in run_script_names()
                           if (folder / "bin" / name).is_file()), None)
        if run_script is None:
            problems.append(f"{folder} has no bin/run.bat or bin/run.sh: this is not the "
                            "gateway's folder (choose the one that contains bin/ and root/).")
        if not conf_path.is_file():
            problems.append(f"{conf_path} is missing: the gateway folder must contain "
                            "root/conf.yaml.")
        else:
            try:
                listen = read_listen_settings(conf_path)
            except GatewayConfError as error:
                problems.append(str(error))
    return GatewayFolderReport(folder, problems, run_script, conf_path, listen,
                               find_java(environ))


def folder_problems(folder: Path) -> list[str]:
    """Layout problems only (for the folder dialog); empty when the folder is usable."""
    return inspect_gateway_folder(folder).problems
