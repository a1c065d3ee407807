"""Each part installs alone, under its own name: what a user or an operator gets from its wheel.

The connector's wheel must carry nothing server-side (a Windows user's install and the frozen
build stay lean) and the server's nothing of the tray (an operator's image has no GUI stack).
Each check builds the part's wheel and installs it with its declared dependencies into a fresh
virtual environment, as `pip install veracity-ibkr-connector` would, then looks inside.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO_ROOT / "constraints.txt"
PARTS = ("contract", "client", "server", "simulator", "release")


def _run(command: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)


def _checked(command: list[str | Path], cwd: Path | None = None) -> str:
    finished = _run(command, cwd)
    assert finished.returncode == 0, f"{command}\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of the contract, the connector and the server, built from their folders."""
    folder = tmp_path_factory.mktemp("wheels")
    sources = tmp_path_factory.mktemp("sources")
    for part in ("contract", "client", "server"):
        # From a copy: setuptools writes build/ and egg-info beside the sources, and another
        # build of the same folder (a parallel test, the Windows suite) must not race this one.
        copy = shutil.copytree(REPO_ROOT / part, sources / part, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__"))
        _checked([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--wheel-dir", folder, copy])
    return folder


def _fresh_environment_with(distribution: str, wheels: Path, folder: Path) -> Path:
    """A new venv with `distribution` (and only what it declares) installed; its python."""
    _checked([sys.executable, "-m", "venv", folder])
    python = folder / "bin" / "python"
    _checked([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--find-links", wheels, "-c", CONSTRAINTS, distribution])
    return python


@pytest.mark.slow
def test_the_connector_installs_alone_without_anything_server_side(
        wheels: Path, tmp_path: Path) -> None:
    python = _fresh_environment_with("veracity-ibkr-connector", wheels, tmp_path / "venv")

    version = _checked([tmp_path / "venv" / "bin" / "ibkr-connector", "--version"])
    declared = tomllib.loads((REPO_ROOT / "client" / "pyproject.toml").read_text())
    assert declared["project"]["version"] in version
    for foreign in ("flask", "sqlalchemy", "boto3", "gunicorn", "veracity_server"):
        finished = _run([python, "-c", f"import {foreign}"], cwd=tmp_path)
        assert finished.returncode != 0, f"{foreign} is importable beside the connector"
        assert "ModuleNotFoundError" in finished.stderr


@pytest.mark.slow
def test_the_server_installs_alone_without_the_tray(wheels: Path, tmp_path: Path) -> None:
    python = _fresh_environment_with("veracity-server", wheels, tmp_path / "venv")

    _checked([tmp_path / "venv" / "bin" / "veracity-server", "--help"])
    for foreign in ("pystray", "PIL", "keyring", "veracity_connector"):
        finished = _run([python, "-c", f"import {foreign}"], cwd=tmp_path)
        assert finished.returncode != 0, f"{foreign} is importable beside the server"
        assert "ModuleNotFoundError" in finished.stderr
    # tkinter is in the standard library, so "not installed" cannot be asked of it: the server
    # must simply never load it.
    loaded = _checked([python, "-c", "import sys, veracity_server.app, veracity_server.cli; "
                       "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                       "{'tkinter', '_tkinter', 'pystray', 'PIL'}))"], cwd=tmp_path)
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("generic_name", ["client", "server", "simulator", "release"])
def test_no_part_installs_under_a_generic_top_level_name(generic_name: str,
                                                           tmp_path: Path) -> None:
    # Outside the checkout only what is installed can be imported: the project's own venv.
    finished = _run([sys.executable, "-c", f"import {generic_name}"], cwd=tmp_path)
    assert finished.returncode != 0, f"`import {generic_name}` works outside the checkout"


def test_each_part_declares_exactly_its_own_package_and_pins_its_dependencies() -> None:
    names = set()
    for part in PARTS:
        project = tomllib.loads((REPO_ROOT / part / "pyproject.toml").read_text())
        names.add(project["project"]["name"])
        (package,) = [pattern.rstrip("*") for pattern in
                      project["tool"]["setuptools"]["packages"]["find"]["include"]]
        assert (REPO_ROOT / part / package / "__init__.py").is_file()
        for requirement in project["project"]["dependencies"]:
            assert "==" in requirement, f"{part}: {requirement} is not pinned exactly"
    assert len(names) == len(PARTS)
