"""Release versions: one source of truth (pyproject.toml), semver2 as Velopack requires."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from release.errors import ReleaseError

DISTRIBUTION_NAME = "veracity-ibkr-connector"
REPO_ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def checked_version(version: str) -> str:
    """Return `version` if it is semver2 (e.g. 1.4.0 or 1.4.0-beta.2), else raise ReleaseError."""
    if not SEMVER.match(version):
        raise ReleaseError(
            f"version {version!r} is not semver2 like 1.4.0 or 1.4.0-beta.2 "
            "(Velopack does not accept four-part versions)"
        )
    return version


def project_version(pyproject: Path = REPO_ROOT / "pyproject.toml") -> str:
    """The version in pyproject.toml: bump it there to make a new release."""
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        return checked_version(str(document["project"]["version"]))
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        raise ReleaseError(f"cannot read [project].version from {pyproject}: {error}") from error


def installed_version() -> str | None:
    """The version recorded in the installed package metadata (what the built binary reports)."""
    try:
        return metadata.version(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:
        return None
