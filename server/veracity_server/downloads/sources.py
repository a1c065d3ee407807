"""The meta JSON at IBKR_CONNECTOR_WINDOWS_META_PATH, re-read only when it changes.

A local file is re-parsed when its fingerprint (inode, size, mtime) changes; checking that is one
stat() per request. An `s3://` object is re-checked at most every REFRESH_S seconds with a
conditional GET on its ETag, so S3 is neither polled per request nor re-downloaded unchanged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from veracity_server.downloads.metadata import (
    NotConfigured,
    ReleaseMetadata,
    S3Object,
    metadata_from_document,
)
from veracity_server.downloads.settings import META_PATH_VARIABLE
from veracity_server.downloads.storage import S3Storage, StorageError

log = logging.getLogger(__name__)


def _parse(body: bytes, source: str, download_dir: Path | None) -> ReleaseMetadata:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise NotConfigured(f"{source} is not valid JSON: {error}") from None
    return metadata_from_document(document, source, download_dir)


class MetaFileSource:
    """A meta JSON file on local disk; its local paths resolve inside `download_dir` (default:
    the meta file's own folder)."""

    def __init__(self, path: Path, download_dir: Path | None = None) -> None:
        self.path = path
        self.download_dir = download_dir
        self._fingerprint: tuple[int, int, int, int] | None = None
        self._result: ReleaseMetadata | NotConfigured | None = None
        self._lock = threading.Lock()

    def read(self) -> ReleaseMetadata:
        """The current metadata, or NotConfigured saying what is wrong with the file."""
        source = f"meta file {self.path} ({META_PATH_VARIABLE})"
        try:
            stat = self.path.stat()
        except OSError as error:
            raise NotConfigured(f"{source} cannot be read: {error.strerror or error}") from None
        fingerprint = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if fingerprint != self._fingerprint or self._result is None:
                try:
                    self._result = _parse(self.path.read_bytes(), source,
                                          self.download_dir or self.path.resolve().parent)
                except NotConfigured as error:
                    self._result = error
                except OSError as error:
                    self._result = NotConfigured(f"{source} cannot be read: {error}")
                self._fingerprint = fingerprint
            result = self._result
        if isinstance(result, NotConfigured):
            raise result
        return result


class MetaObjectSource:
    """A meta JSON object in S3, checked at most every `refresh_s` seconds."""

    def __init__(self, location: S3Object, storage: S3Storage, refresh_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 download_dir: Path | None = None) -> None:
        self.location = location
        self.download_dir = download_dir
        self._storage, self._refresh_s, self._clock = storage, refresh_s, clock
        self._etag: str | None = None
        self._result: ReleaseMetadata | NotConfigured | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def read(self) -> ReleaseMetadata:
        """The current metadata, or NotConfigured saying what is wrong with the object."""
        with self._lock:
            if self._result is None or self._clock() - self._checked_at >= self._refresh_s:
                self._refresh()
                self._checked_at = self._clock()
            result = self._result
        if isinstance(result, NotConfigured):
            raise result
        assert result is not None
        return result

    def _refresh(self) -> None:
        uri = f"s3://{self.location.bucket}/{self.location.key}"
        source = f"meta object {uri} ({META_PATH_VARIABLE})"
        try:
            changed = self._storage.read_if_changed(self.location, self._etag)
        except StorageError as error:
            if not error.missing and isinstance(self._result, ReleaseMetadata):
                # A storage hiccup should not take a good release offline: keep serving it.
                log.warning("could not re-check %s, still serving version %s: %s", uri,
                            self._result.version, error)
                return
            self._result, self._etag = NotConfigured(f"{source}: {error}"), None
            return
        if changed is None:
            return
        body, self._etag = changed
        try:
            # An S3 meta has no folder of its own: a local path needs the configured one.
            self._result = _parse(body, source, self.download_dir)
        except NotConfigured as error:
            self._result = error
