"""The release being served right now: metadata from its source, checked against the storage.

`ReleaseResolver.current()` is called per request. It never raises anything but NotConfigured,
and it logs each new reason once (not per request), so a broken configuration shows up in the
log exactly where the operator looks, without flooding it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from veracity_server.downloads.metadata import (
    NotConfigured,
    NothingConfigured,
    ReleaseMetadata,
    S3Object,
    metadata_from_environment,
    parse_s3_uri,
)
from veracity_server.downloads.settings import META_PATH_VARIABLE
from veracity_server.downloads.sources import MetaFileSource, MetaObjectSource
from veracity_server.downloads.storage import (
    FileFingerprint,
    FileHasher,
    ObjectInfo,
    S3Storage,
    StorageError,
)
from veracity_server.settings import Settings

log = logging.getLogger("veracity_server.downloads")


@dataclass(frozen=True)
class ServedRelease:
    """The release with the checksum and size of the bytes users actually get."""

    metadata: ReleaseMetadata
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class LocalInstaller:
    """An open local installer with the checksum of exactly these bytes."""

    handle: BinaryIO
    size: int
    modified_at: datetime
    sha256: str


class ReleaseResolver:
    """Finds, validates and describes the configured release."""

    def __init__(self, settings: Settings, storage: S3Storage,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings, self.storage, self._clock = settings, storage, clock
        self.hasher = FileHasher()
        self._environment = settings.release_variables()
        self._meta_source: MetaFileSource | MetaObjectSource | None = None
        meta_path = settings.downloads_meta_path
        download_dir = Path(settings.downloads_dir) if settings.downloads_dir else None
        if meta_path and meta_path.startswith("s3://"):
            self._meta_source = MetaObjectSource(
                parse_s3_uri(meta_path, META_PATH_VARIABLE), storage,
                settings.downloads_refresh_s, clock, download_dir)
        elif meta_path:
            self._meta_source = MetaFileSource(Path(meta_path), download_dir)
        self._heads: dict[S3Object, tuple[float, ObjectInfo]] = {}
        self._lock = threading.Lock()
        self._last_reason: str | None = None

    def current(self) -> ServedRelease:
        """The release to serve, or NotConfigured (logged once per distinct reason)."""
        try:
            release = self._resolve()
        except NotConfigured as error:
            self.report_problem(str(error), error_level=not isinstance(error, NothingConfigured))
            raise
        if self._last_reason is not None:
            log.info("IBKR connector downloads configured again: version %s from %s",
                     release.metadata.version, release.metadata.source)
            self._last_reason = None
        return release

    def open_local_installer(self, metadata: ReleaseMetadata) -> LocalInstaller:
        """Open the FILE-mode installer and hash exactly the bytes that will be served."""
        assert metadata.file is not None
        try:
            handle: BinaryIO = metadata.file.open("rb")
        except OSError as error:
            raise NotConfigured(f"installer file {metadata.file} ({metadata.source}) cannot be "
                                f"read: {error.strerror or error}") from None
        try:
            if not metadata.file.is_file():
                raise NotConfigured(f"installer file {metadata.file} is not a regular file")
            sha256 = self.hasher.sha256(handle)
            fingerprint = FileFingerprint.of(handle)
            _check_declared(metadata, sha256, fingerprint.size, f"file {metadata.file}")
        except BaseException:
            handle.close()
            raise
        modified_at = datetime.fromtimestamp(fingerprint.mtime_ns / 1e9, UTC)
        return LocalInstaller(handle, fingerprint.size, modified_at, sha256)

    def _resolve(self) -> ServedRelease:
        if self._meta_source is not None:
            metadata = self._meta_source.read()
        else:
            found = metadata_from_environment(self._environment)
            if found is None:
                raise NothingConfigured(
                    "no release configured: set IBKR_CONNECTOR_WINDOWS_META_PATH "
                    "or IBKR_CONNECTOR_WINDOWS_URL / _FILE with _VERSION")
            metadata = found
        if metadata.s3 is not None:
            info = self._object_info(metadata.s3)
            where = f"object s3://{metadata.s3.bucket}/{metadata.s3.key}"
            _check_declared(metadata, info.sha256, info.size, where)
            return ServedRelease(metadata, metadata.sha256 or info.sha256, info.size)
        if metadata.file is not None:
            installer = self.open_local_installer(metadata)
            installer.handle.close()
            return ServedRelease(metadata, installer.sha256, installer.size)
        return ServedRelease(metadata, metadata.sha256, metadata.size)

    def _object_info(self, obj: S3Object) -> ObjectInfo:
        # HEAD at most every refresh interval: the object only changes when someone publishes.
        with self._lock:
            cached = self._heads.get(obj)
        if cached and self._clock() - cached[0] < self.settings.downloads_refresh_s:
            return cached[1]
        try:
            info = self.storage.head(obj)
        except StorageError as error:
            raise NotConfigured(f"installer {error}") from None
        with self._lock:
            self._heads[obj] = (self._clock(), info)
        return info

    def report_problem(self, reason: str, error_level: bool = True) -> None:
        """Log why downloads are unavailable, once per distinct reason."""
        if reason != self._last_reason:
            log.log(logging.ERROR if error_level else logging.WARNING,
                    "IBKR connector downloads not configured: %s", reason)
            self._last_reason = reason


def _check_declared(metadata: ReleaseMetadata, actual_sha256: str | None, actual_size: int,
                    where: str) -> None:
    """The configured sha256/size must describe the bytes actually served."""
    if metadata.sha256 and actual_sha256 and metadata.sha256 != actual_sha256.lower():
        raise NotConfigured(f"configured sha256 {metadata.sha256} ({metadata.source}) does not "
                            f"match the {where}, whose SHA-256 is {actual_sha256.lower()}")
    if metadata.size is not None and metadata.size != actual_size:
        raise NotConfigured(f"configured size {metadata.size} ({metadata.source}) does not match "
                            f"the {where}, which has {actual_size} bytes")
