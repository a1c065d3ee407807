"""The Velopack update feed behind `.../windows/updates/<file>`.

Velopack's client asks for `releases.<channel>.json` under the feed URL (adding its own query
string, which is why the feed itself cannot be a presigned URL) and then for the packages that
file lists. We serve the index ourselves and send each listed package from storage: a fresh
presigned URL for S3, the file itself for a local feed folder. Names not in the index are 404s.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from veracity_server.downloads.metadata import NotConfigured, S3Object, parse_s3_uri
from veracity_server.downloads.storage import S3Storage, StorageError

INDEX_NAME = re.compile(r"^releases\.[A-Za-z0-9_-]{1,40}\.json$")
PACKAGE_INDEX = "releases.win.json"


class UnknownFeedFile(Exception):
    """The feed has no such file."""


@dataclass(frozen=True)
class FeedIndex:
    """A feed index document and the package names it lists."""

    body: bytes
    file_names: frozenset[str]


def parse_index(body: bytes, source: str) -> FeedIndex:
    """Check a Velopack index enough to trust its FileNames (NotConfigured when broken)."""
    try:
        document = json.loads(body.decode("utf-8"))
        assets = document["Assets"]
        names = frozenset(str(asset["FileName"]) for asset in assets)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise NotConfigured(f"update feed index {source} is not a Velopack feed: {error}") \
            from None
    if any("/" in name or "\\" in name or name in {"", ".", ".."} for name in names):
        raise NotConfigured(f"update feed index {source} lists a file name with a path")
    return FeedIndex(body, names)


class UpdateFeed:
    """Reads feed indexes (cached, re-checked at most every `refresh_s`) and finds packages."""

    def __init__(self, storage: S3Storage, refresh_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._storage, self._refresh_s, self._clock = storage, refresh_s, clock
        self._cache: dict[S3Object, tuple[float, str, FeedIndex]] = {}
        self._lock = threading.Lock()

    def index(self, feed: str, name: str) -> bytes:
        """The body of index `name` (e.g. releases.win.json) of `feed`."""
        if not INDEX_NAME.match(name):
            raise UnknownFeedFile(name)
        return self._index(feed, name).body

    def package(self, feed: str, name: str) -> S3Object | Path:
        """Where package `name` is, if the feed's index lists it."""
        if name not in self._index(feed, PACKAGE_INDEX).file_names:
            raise UnknownFeedFile(name)
        if feed.startswith("s3://"):
            folder = _s3_folder(feed)
            return S3Object(folder.bucket, folder.key + name)
        return Path(feed) / name

    def _index(self, feed: str, name: str) -> FeedIndex:
        if not feed.startswith("s3://"):
            path = Path(feed) / name
            try:
                return parse_index(path.read_bytes(), str(path))
            except FileNotFoundError:
                if name != PACKAGE_INDEX:
                    raise UnknownFeedFile(name) from None
                raise NotConfigured(f"update feed index {path} does not exist") from None
            except OSError as error:
                raise NotConfigured(f"update feed index {path} cannot be read: {error}") \
                    from None
        folder = _s3_folder(feed)
        obj = S3Object(folder.bucket, folder.key + name)
        with self._lock:
            cached = self._cache.get(obj)
        if cached and self._clock() - cached[0] < self._refresh_s:
            return cached[2]
        try:
            changed = self._storage.read_if_changed(obj, cached[1] if cached else None)
        except StorageError as error:
            if error.missing and name != PACKAGE_INDEX:
                raise UnknownFeedFile(name) from None
            raise NotConfigured(f"update feed index {error}") from None
        if changed is None and cached:
            etag, index = cached[1], cached[2]
        else:
            assert changed is not None
            body, etag = changed
            index = parse_index(body, f"s3://{obj.bucket}/{obj.key}")
        with self._lock:
            self._cache[obj] = (self._clock(), etag, index)
        return index


def _s3_folder(feed: str) -> S3Object:
    folder = parse_s3_uri(feed.rstrip("/") + "/x", "update feed")
    return S3Object(folder.bucket, folder.key[:-1])
