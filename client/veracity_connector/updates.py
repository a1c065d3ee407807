"""Is a newer connector available, and installing it when the person asks.

Two sources, best first:

1. Velopack (`velopack.UpdateManager`) when the app was installed by the Velopack installer:
   it reads the feed the server publishes at
   `/api/v1/downloads/ibkr-connector/windows/updates/`, downloads the package and restarts
   into the new version. Outside such an install its constructor raises "This application is
   not properly installed"; we note why and fall back.
2. The download metadata endpoint `GET /api/v1/downloads/ibkr-connector/windows`: compare its
   `version` with ours; "installing" opens the installer's download link in the browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

METADATA_PATH = "/api/v1/downloads/ibkr-connector/windows"
FEED_PATH = "/api/v1/downloads/ibkr-connector/windows/updates"
TIMEOUT_S = 15.0


class UpdateCheckError(RuntimeError):
    """The check could not be made; the message says why in plain words."""


@dataclass(frozen=True)
class AvailableUpdate:
    """A newer version and how to install it."""

    version: str
    source: str  # "velopack" (installs and restarts) or "download" (opens the installer link)
    notes: str = ""
    download_url: str = ""
    velopack_info: Any = None  # velopack.UpdateInfo for source == "velopack"


def is_newer(candidate: str, current: str) -> bool:
    """True when `candidate` is a later release than `current` (PEP 440; '1.0.0-rc1' < '1.0.0').

    Local labels (`+build`) do not count: the same release built elsewhere is not an update.
    Raises `InvalidVersion` when either is not a version.
    """
    return _public(candidate) > _public(current)


def _public(version: str) -> Version:
    return Version(Version(version).public)  # without the local label


def _first_line(error: BaseException) -> str:
    # velopack's errors carry a Rust backtrace after the first line.
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class UpdateChecker:
    """Checks for and installs updates from the configured Veracity server."""

    def __init__(self, veracity_url: str, current_version: str,
                 session: requests.Session | None = None,
                 velopack_manager: Callable[[str], Any] | None = None) -> None:
        self._base = veracity_url.rstrip("/")
        self.current_version = current_version
        self._session = session or requests.Session()
        self._velopack_manager = velopack_manager or _default_velopack_manager
        self.velopack_unavailable_reason = ""

    @property
    def feed_url(self) -> str:
        """Velopack's feed (it appends releases.<channel>.json itself)."""
        return self._base + FEED_PATH

    def check(self) -> AvailableUpdate | None:
        """A newer version, or None when this one is current; UpdateCheckError otherwise."""
        if not self._base:
            raise UpdateCheckError("Set Veracity's address in Settings… first.")
        manager = self._open_velopack()
        if manager is not None:
            try:
                info = manager.check_for_updates()
            except Exception as error:
                raise UpdateCheckError(f"The update feed could not be read: "
                                       f"{_first_line(error)}") from None
            if info is None:
                return None
            return AvailableUpdate(version=str(info.TargetFullRelease.Version),
                                   source="velopack", velopack_info=info)
        return self._check_metadata()

    def _open_velopack(self) -> Any:
        try:
            return self._velopack_manager(self.feed_url)
        except Exception as error:  # "not properly installed", or no velopack module
            self.velopack_unavailable_reason = _first_line(error)
            logger.info("velopack updates unavailable (%s); using the download metadata",
                        self.velopack_unavailable_reason)
            return None

    def _check_metadata(self) -> AvailableUpdate | None:
        url = self._base + METADATA_PATH
        try:
            response = self._session.get(url, timeout=TIMEOUT_S)
        except requests.RequestException as error:
            raise UpdateCheckError(f"Veracity could not be reached to check for updates "
                                   f"({type(error).__name__}).") from None
        if response.status_code == 503:
            raise UpdateCheckError("Veracity has no connector release published yet.")
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.status_code != 200 or not isinstance(document, dict):
            raise UpdateCheckError(f"Veracity answered the update check with HTTP "
                                   f"{response.status_code}.")
        version = str(document.get("version") or "").strip()
        if not version:
            raise UpdateCheckError("Veracity's release information has no version.")
        try:
            newer = is_newer(version, self.current_version)
        except InvalidVersion:
            raise UpdateCheckError(f"Veracity's release information has a version that cannot "
                                   f"be compared: {version!r}.") from None
        if not newer:
            return None
        return AvailableUpdate(version=version, source="download",
                               notes=str(document.get("notes") or ""),
                               download_url=str(document.get("download_url") or ""))

    def apply(self, update: AvailableUpdate, open_url: Callable[[str], None]) -> str:
        """Install `update`: Velopack restarts into it; otherwise the installer link opens."""
        if update.source == "velopack":
            manager = self._open_velopack()
            if manager is None:
                raise UpdateCheckError(f"The update cannot be installed: "
                                       f"{self.velopack_unavailable_reason}")
            try:
                manager.download_updates(update.velopack_info)
                manager.apply_updates_and_restart(update.velopack_info)
            except Exception as error:
                raise UpdateCheckError(f"The update could not be installed: "
                                       f"{_first_line(error)}") from None
            return f"Installing version {update.version}; the connector restarts by itself."
        link = update.download_url or (self._base + METADATA_PATH + "/installer")
        open_url(link)
        return (f"The installer for version {update.version} is downloading in your browser. "
                "Run it to update; your settings and pairing are kept.")


def _default_velopack_manager(feed_url: str) -> Any:
    import velopack  # a compiled module: imported only when an update check runs

    return velopack.UpdateManager(feed_url)
