"""What `vpk pack` left in the releases folder, checked before anything is uploaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veracity_release.checksums import sha256_of_file
from veracity_release.errors import ReleaseError
from veracity_release.layout import FEED_INDEX_NAME

SETUP_SUFFIX = "-win-Setup.exe"


@dataclass(frozen=True)
class LocalFile:
    """A file to upload, with the checksum and size measured from the file itself."""

    path: Path
    sha256: str
    size: int

    @classmethod
    def measure(cls, path: Path) -> LocalFile:
        """Hash and size a file (ReleaseError if it is missing)."""
        sha256 = sha256_of_file(path)
        return cls(path=path, sha256=sha256, size=path.stat().st_size)


@dataclass(frozen=True)
class ReleaseArtifacts:
    """The installer, this version's feed packages and the feed entries that describe them."""

    version: str
    installer: LocalFile
    packages: list[LocalFile]
    feed_assets: list[dict[str, Any]]


def find_release_artifacts(releases_dir: Path, version: str) -> ReleaseArtifacts:
    """Collect and measure the files of `version` in a `vpk pack` output folder."""
    if not releases_dir.is_dir():
        raise ReleaseError(f"releases folder not found: {releases_dir} (run `package` first)")
    installer = _single_installer(releases_dir)
    feed_assets = [asset for asset in read_feed_index(releases_dir / FEED_INDEX_NAME)["Assets"]
                   if asset.get("Version") == version]
    if not any(asset.get("Type") == "Full" for asset in feed_assets):
        raise ReleaseError(
            f"{releases_dir / FEED_INDEX_NAME} has no Full package for version {version}; "
            "was the folder packed with this --version?"
        )
    packages = [LocalFile.measure(releases_dir / asset["FileName"]) for asset in feed_assets]
    return ReleaseArtifacts(version=version, installer=LocalFile.measure(installer),
                            packages=packages, feed_assets=feed_assets)


def read_feed_index(path: Path) -> dict[str, Any]:
    """Parse a Velopack `releases.win.json`, checking the fields we rely on."""
    if not path.is_file():
        raise ReleaseError(f"Velopack feed index not found: {path} (run `package` first)")
    try:
        return parse_feed_index(path.read_text(encoding="utf-8"), str(path))
    except UnicodeDecodeError as error:
        raise ReleaseError(f"{path} is not UTF-8 text: {error}") from error


def parse_feed_index(text: str, source: str) -> dict[str, Any]:
    """Parse feed index JSON text from `source` (a path or s3:// URI, for messages)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReleaseError(f"{source} is not valid JSON: {error}") from error
    assets = document.get("Assets") if isinstance(document, dict) else None
    if not isinstance(assets, list):
        raise ReleaseError(f"{source} has no 'Assets' list; is it a Velopack feed index?")
    for asset in assets:
        if not isinstance(asset, dict) or not _is_plain_file_name(asset.get("FileName")):
            raise ReleaseError(f"{source} has an asset without a plain FileName: {asset!r}")
    return document


def _is_plain_file_name(name: object) -> bool:
    return isinstance(name, str) and name not in {"", ".", ".."} and "/" not in name \
        and "\\" not in name


def _single_installer(releases_dir: Path) -> Path:
    candidates = sorted(releases_dir.glob(f"*{SETUP_SUFFIX}"))
    if len(candidates) != 1:
        found = ", ".join(path.name for path in candidates) or "none"
        raise ReleaseError(
            f"expected exactly one *{SETUP_SUFFIX} installer in {releases_dir}, found {found}"
        )
    return candidates[0]
