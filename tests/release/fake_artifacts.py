"""A folder shaped like `vpk pack` output, with real bytes, for publish tests.

The bytes are random so each test's checksums are its own; what matters to publish is the
layout (one *-win-Setup.exe, nupkgs, releases.win.json listing them) and the hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

PACK_ID = "VeracityIBKRConnector"


@dataclass(frozen=True)
class FakeRelease:
    """Paths and checksums of a fake packed release."""

    folder: Path
    version: str
    installer: Path
    full_package: Path

    @property
    def installer_sha256(self) -> str:
        """SHA-256 of the installer bytes on disk."""
        return hashlib.sha256(self.installer.read_bytes()).hexdigest()


def make_fake_release(folder: Path, version: str, installer_size: int = 300_000,
                      previous_versions: tuple[str, ...] = ()) -> FakeRelease:
    """Write a packed release of `version` (its feed index may list older versions too)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*-win-Setup.exe"):
        stale.unlink()  # vpk overwrites the Setup.exe of the previous version in place
    installer = folder / f"{PACK_ID}-win-Setup.exe"
    installer.write_bytes(b"MZ" + os.urandom(installer_size))
    full_package = folder / f"{PACK_ID}-{version}-full.nupkg"
    full_package.write_bytes(b"PK" + os.urandom(50_000))
    assets = [_asset(previous, "Full", f"{PACK_ID}-{previous}-full.nupkg", None)
              for previous in previous_versions]
    assets.append(_asset(version, "Full", full_package.name, full_package))
    if previous_versions:
        delta = folder / f"{PACK_ID}-{version}-delta.nupkg"
        delta.write_bytes(b"PK" + os.urandom(5_000))
        assets.append(_asset(version, "Delta", delta.name, delta))
    (folder / "releases.win.json").write_text(json.dumps({"Assets": assets}), encoding="utf-8")
    return FakeRelease(folder=folder, version=version, installer=installer,
                       full_package=full_package)


def _asset(version: str, kind: str, filename: str, path: Path | None) -> dict[str, object]:
    content = path.read_bytes() if path else b""
    return {"PackageId": PACK_ID, "Version": version, "Type": kind, "FileName": filename,
            "SHA1": hashlib.sha1(content).hexdigest().upper(),  # noqa: S324 (Velopack's field)
            "SHA256": hashlib.sha256(content).hexdigest().upper(), "Size": len(content),
            "NotesMarkdown": "", "NotesHtml": ""}
