"""Release versions: one source of truth (client/pyproject.toml), semver2 as Velopack requires."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from veracity_release.errors import ReleaseError

DISTRIBUTION_NAME = "veracity-ibkr-connector"
REPO_ROOT = Path(__file__).resolve().parents[2]
CONNECTOR_PYPROJECT = REPO_ROOT / "client" / "pyproject.toml"
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def checked_version(version: str) -> str:
    """Return `version` if it is semver2 (e.g. 1.4.0 or 1.4.0-beta.2), else raise ReleaseError."""
    if not SEMVER.match(version):
        raise ReleaseError(
            f"version {version!r} is not semver2 like 1.4.0 or 1.4.0-beta.2 "
            "(Velopack does not accept four-part versions)"
        )
    return version


def project_version(pyproject: Path = CONNECTOR_PYPROJECT) -> str:
    """The connector's version (client/pyproject.toml): bump it there to make a new release."""
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
