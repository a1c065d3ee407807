"""The connector's version, from the installed package metadata."""

from __future__ import annotations

from importlib import metadata

PACKAGE_NAME = "veracity-ibkr-connector"


def connector_version() -> str:
    """The installed version (e.g. "0.1.0"); "0.0.0+unknown" when run from a bare checkout."""
    try:
        return metadata.version(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"
