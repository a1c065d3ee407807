"""Storage behind the downloads: S3 through boto3 (standard credential chain; the endpoint can
be moved to MinIO/moto with AWS_ENDPOINT_URL_S3, which boto3 reads itself) and local installer
files hashed once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

import boto3
import botocore.exceptions
from botocore.config import Config

from veracity_server.downloads.metadata import S3Object

CHUNK_BYTES = 1024 * 1024
MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class StorageError(Exception):
    """S3 could not answer; `missing` says the object (or bucket) does not exist."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD tells about an object."""

    size: int
    etag: str
    sha256: str | None


def _explained(error: Exception, where: str) -> StorageError:
    if isinstance(error, botocore.exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in MISSING_CODES:
            return StorageError(f"{where} does not exist", missing=True)
        return StorageError(f"{where}: S3 answered {code or error}")
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return StorageError(f"{where}: no AWS credentials (configure the standard AWS chain)")
    return StorageError(f"{where}: {error}")


class S3Storage:
    """Reads and presigns objects; one boto3 client per app (clients are thread-safe)."""

    def __init__(self, path_style: bool = False) -> None:
        # path_style: a custom endpoint (MinIO, moto) is a bare host:port, where bucket-named
        # hosts do not resolve; the app sets it when AWS_ENDPOINT_URL(_S3) is configured.
        self._path_style = path_style
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use so a server without S3 never needs boto3 set up."""
        with self._lock:
            if self._client is None:
                style = "path" if self._path_style else "auto"
                config = Config(signature_version="s3v4", s3={"addressing_style": style},
                                retries={"max_attempts": 2}, connect_timeout=5, read_timeout=10)
                self._client = boto3.session.Session().client("s3", config=config)
            return self._client

    def presigned_get(self, obj: S3Object, expires_in_s: int,
                      download_name: str | None = None) -> str:
        """A fresh presigned GET URL (presigning is local: no request to S3)."""
        params: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        try:
            return str(self.client.generate_presigned_url("get_object", Params=params,
                                                          ExpiresIn=expires_in_s))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _explained(error, f"s3://{obj.bucket}/{obj.key}") from error

    def head(self, obj: S3Object) -> ObjectInfo:
        """Size, ETag and the sha256 metadata our publisher writes."""
        try:
            answer = self.client.head_object(Bucket=obj.bucket, Key=obj.key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _explained(error, f"s3://{obj.bucket}/{obj.key}") from error
        return ObjectInfo(size=int(answer["ContentLength"]), etag=str(answer.get("ETag", "")),
                          sha256=(answer.get("Metadata") or {}).get("sha256"))

    def read_if_changed(self, obj: S3Object, etag: str | None) -> tuple[bytes, str] | None:
        """(body, ETag) of the object, or None when its ETag is still `etag` (304)."""
        arguments: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if etag:
            arguments["IfNoneMatch"] = etag
        try:
            answer = self.client.get_object(**arguments)
        except botocore.exceptions.ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304 or error.response.get("Error", {}).get("Code") == "304":
                return None
            raise _explained(error, f"s3://{obj.bucket}/{obj.key}") from error
        except botocore.exceptions.BotoCoreError as error:
            raise _explained(error, f"s3://{obj.bucket}/{obj.key}") from error
        return answer["Body"].read(), str(answer.get("ETag", ""))


@dataclass(frozen=True)
class FileFingerprint:
    """Identity of a file's content as far as the OS tells: replaced or rewritten → different."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, handle: BinaryIO) -> FileFingerprint:
        """Fingerprint of an open file (the exact inode that will be served)."""
        stat = os.fstat(handle.fileno())
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class FileHasher:
    """SHA-256 of local installers, computed from the bytes and cached by fingerprint."""

    def __init__(self) -> None:
        self._cache: dict[FileFingerprint, str] = {}
        self._lock = threading.Lock()

    def sha256(self, handle: BinaryIO) -> str:
        """SHA-256 of the open file's content; the handle is left at offset 0."""
        fingerprint = FileFingerprint.of(handle)
        with self._lock:
            cached = self._cache.get(fingerprint)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        handle.seek(0)
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
        handle.seek(0)
        with self._lock:
            # Keep only the current file's hash: old fingerprints are stale by definition.
            self._cache = {fingerprint: digest.hexdigest()}
        return digest.hexdigest()
