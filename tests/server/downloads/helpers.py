"""Small builders shared by the download tests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

API = "/api/v1/downloads/ibkr-connector/windows"


def write_installer(path: Path, size: int = 200_000) -> str:
    """Write an installer of random bytes; return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = b"MZ" + os.urandom(size)
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def write_meta(path: Path, document: Any) -> Path:
    """Write a meta JSON file (any JSON value, to test the broken ones too)."""
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()
