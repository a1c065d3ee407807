"""SHA-256 of files and streams, read in chunks so installers never sit whole in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from veracity_release.errors import ReleaseError

CHUNK_BYTES = 1024 * 1024


def sha256_of_chunks(chunks: Iterable[bytes]) -> str:
    """Hex SHA-256 of a stream of byte chunks."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_of_file(path: Path) -> str:
    """Hex SHA-256 of a file's content; a missing file is a ReleaseError naming it."""
    if not path.is_file():
        raise ReleaseError(f"file not found: {path}")
    with path.open("rb") as handle:
        return sha256_of_chunks(iter(lambda: handle.read(CHUNK_BYTES), b""))
