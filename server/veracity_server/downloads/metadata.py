"""Release metadata: parsed and validated from the meta JSON or the IBKR_CONNECTOR_WINDOWS_* vars.

One model for both sources. Anything wrong (bad JSON, bad timestamp or hash, nothing to download)
raises NotConfigured with a reason naming the source and the field, which the endpoint logs and
answers with 503 `not_configured` — a misconfigured release must never become a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "IBKR_CONNECTOR_WINDOWS_"
DOWNLOAD_DIR_VARIABLE = ENV_PREFIX + "DOWNLOAD_DIR"
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,200}$")
VERSION = re.compile(r"^\d+(?:\.\d+){1,3}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
# Earlier Veracity tooling wrote camelCase keys; they mean the same as ours.
CAMEL_CASE_KEYS = {"publishedAt": "published_at", "releaseNotesUrl": "release_notes_url",
                   "sizeBytes": "size"}
META_KEYS = {"url", "file", "version", "published_at", "sha256", "notes", "release_notes_url",
             "size", "filename", "s3", "feed"}


# The variables that describe a release (the others tune the endpoint: see settings.py).
RELEASE_VARIABLES = ("URL", "FILE", "VERSION", "PUBLISHED_AT", "SHA256", "NOTES",
                     "RELEASE_NOTES_URL", "SIZE", "FILENAME", "FEED")


class NotConfigured(Exception):
    """No usable release is configured; the message says exactly what is wrong and where."""


class NothingConfigured(NotConfigured):
    """No release source is set at all (normal on a development server: a warning, not an error)."""


@dataclass(frozen=True)
class S3Object:
    """An object in a bucket."""

    bucket: str
    key: str


@dataclass(frozen=True)
class ReleaseMetadata:
    """One release as configured: exactly one of `s3`, `url`, `file` says where the bytes are."""

    source: str
    version: str
    published_at: datetime | None
    sha256: str | None
    size: int | None
    filename: str
    notes: str | None
    release_notes_url: str | None
    s3: S3Object | None = None
    url: str | None = None
    file: Path | None = None
    feed: str | None = None


def parse_s3_uri(uri: str, what: str) -> S3Object:
    """`s3://bucket/key` → S3Object (NotConfigured naming `what` if malformed)."""
    parts = urlsplit(uri)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise NotConfigured(f"{what} {uri!r} is not an s3://bucket/key URI")
    return S3Object(parts.netloc, key)


def confined_path(reference: str, folder: Path | None, what: str) -> Path:
    """`reference`, a relative path, resolved inside `folder` (symlinks followed), else
    NotConfigured: whoever writes the meta JSON must not make the server serve any file it can
    read (an absolute path, `..`, or a symlink leading out)."""
    if folder is None:
        raise NotConfigured(f"{what} {reference!r} is a local path but there is no download "
                            f"folder: set {DOWNLOAD_DIR_VARIABLE}")
    posix = PurePosixPath(reference.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(reference).drive:
        raise NotConfigured(f"{what} {reference!r} is an absolute path; it must be relative to "
                            f"the download folder {folder} ({DOWNLOAD_DIR_VARIABLE})")
    if ".." in posix.parts:
        raise NotConfigured(f"{what} {reference!r} steps out of the download folder {folder} "
                            "with '..'")
    root = folder.resolve()
    resolved = (root / posix).resolve()
    if not resolved.is_relative_to(root):
        raise NotConfigured(f"{what} {reference!r} leads out of the download folder {root} "
                            f"(a symlink to {resolved})")
    return resolved


def metadata_from_document(document: Any, source: str,
                           download_dir: Path | None) -> ReleaseMetadata:
    """Validate a parsed meta JSON document; a local `file` or `feed` must resolve inside
    `download_dir` (None: local paths are refused)."""
    if not isinstance(document, dict):
        raise NotConfigured(f"{source}: the top level must be a JSON object")
    fields: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in document.items():
        name = CAMEL_CASE_KEYS.get(key, key)
        if name not in META_KEYS:
            continue  # unknown keys are tolerated: newer tooling may add some
        if name in fields and fields[name] != value:
            raise NotConfigured(f"{source}: both {spelled[name]!r} and {key!r} are set, "
                                "differently")
        fields[name], spelled[name] = value, key
    s3 = fields.pop("s3", None)
    if s3 is not None:
        if not isinstance(s3, dict) or not all(isinstance(s3.get(part), str) and s3.get(part)
                                               for part in ("bucket", "key")):
            raise NotConfigured(f"{source}: 's3' must be an object with 'bucket' and 'key' strings")
        fields["s3"] = S3Object(s3["bucket"], s3["key"])
    file = fields.pop("file", None)
    if file is not None:
        if not isinstance(file, str) or not file:
            raise NotConfigured(f"{source}: 'file' must be a path string")
        fields["file"] = confined_path(file, download_dir, f"{source}: 'file'")
    feed = fields.get("feed")
    if isinstance(feed, str) and feed and not feed.startswith("s3://"):
        fields["feed"] = str(confined_path(feed, download_dir, f"{source}: 'feed'"))
    return _validated(source, fields, lambda name: f"{source}: {name!r}")


def metadata_from_environment(environment: Mapping[str, str]) -> ReleaseMetadata | None:
    """The release described by IBKR_CONNECTOR_WINDOWS_* variables (None when none is set)."""
    def env(name: str) -> str | None:
        value = environment.get(ENV_PREFIX + name)
        return value if value not in (None, "") else None

    if not any(env(name) for name in RELEASE_VARIABLES):
        return None
    location = {name.lower(): env(name) for name in ("URL", "FILE")}
    fields: dict[str, Any] = {
        "version": env("VERSION"), "published_at": env("PUBLISHED_AT"),
        "sha256": env("SHA256"), "notes": env("NOTES"),
        "release_notes_url": env("RELEASE_NOTES_URL"), "filename": env("FILENAME"),
        "feed": env("FEED"), "size": env("SIZE"),
    }
    url = location["url"]
    if url and url.startswith("s3://"):
        fields["s3"] = parse_s3_uri(url, ENV_PREFIX + "URL")
    elif url:
        fields["url"] = url
    if location["file"]:
        fields["file"] = Path(location["file"])
    if fields["size"] is not None:
        fields["size"] = _integer_text(fields["size"], ENV_PREFIX + "SIZE")
    return _validated("environment", fields, lambda name: ENV_PREFIX + name.upper())


def _integer_text(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NotConfigured(f"{what} {text!r} is not a whole number of bytes") from None


def _validated(source: str, fields: dict[str, Any], label: Any) -> ReleaseMetadata:
    version = fields.get("version")
    if not isinstance(version, str) or not VERSION.match(version):
        raise NotConfigured(f"{label('version')} must be a version like 1.4.0, got {version!r}")
    published_at = _timestamp(fields.get("published_at"), label("published_at"))
    sha256 = fields.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not SHA256_HEX.match(sha256)):
        raise NotConfigured(f"{label('sha256')} must be 64 hex characters (a SHA-256), "
                            f"got {sha256!r}")
    size = fields.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise NotConfigured(f"{label('size')} must be a whole number of bytes, got {size!r}")
    for name in ("notes", "release_notes_url", "filename", "url", "feed"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise NotConfigured(f"{label(name)} must be a string")
    for name in ("release_notes_url", "url"):
        if fields.get(name) is not None and urlsplit(fields[name]).scheme not in {"http", "https"}:
            raise NotConfigured(f"{label(name)} must be an http(s) URL, got {fields[name]!r}")
    s3, url, file = fields.get("s3"), fields.get("url"), fields.get("file")
    # Precedence: an S3 object (fresh presigned URL per request), then a URL, then a local file.
    if s3 is not None:
        url = file = None
    elif url is not None:
        file = None
    elif file is None:
        raise NotConfigured(f"{source}: no installer location: set {label('url')} "
                            f"or {label('file')}")
    filename = fields.get("filename") or _default_filename(s3, url, file)
    if not SAFE_FILENAME.match(filename):
        raise NotConfigured(f"{label('filename')} {filename!r} is not a plain file name")
    feed = fields.get("feed")
    if feed is not None and feed.startswith("s3://"):
        parse_s3_uri(feed.rstrip("/") + "/", label("feed"))
    return ReleaseMetadata(source=source, version=version, published_at=published_at,
                           sha256=sha256.lower() if sha256 else None, size=size,
                           filename=filename, notes=fields.get("notes"),
                           release_notes_url=fields.get("release_notes_url"),
                           s3=s3, url=url, file=file, feed=feed)


def _timestamp(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise NotConfigured(f"{what} must be an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise NotConfigured(f"{what} {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise NotConfigured(f"{what} {value!r} has no time zone (add Z or +00:00)")
    return parsed


def _default_filename(s3: S3Object | None, url: str | None, file: Path | None) -> str:
    if s3 is not None:
        return s3.key.rsplit("/", 1)[-1]
    if url is not None:
        return urlsplit(url).path.rsplit("/", 1)[-1] or "ibkr-connector-setup.exe"
    assert file is not None
    return file.name
