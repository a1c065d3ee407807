"""Where a release lives in the bucket. The download endpoint reads what this layout writes.

    <prefix>/meta.json                          metadata JSON (IBKR_CONNECTOR_WINDOWS_META_PATH)
    <prefix>/installers/<version>/<filename>    the installer users download
    <prefix>/feed/releases.win.json             Velopack feed index (cumulative, all versions)
    <prefix>/feed/<package>.nupkg               Velopack full and delta packages
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "ibkr-connector/windows"
FEED_INDEX_NAME = "releases.win.json"


@dataclass(frozen=True)
class BucketLayout:
    """Object keys of one product's releases under a key prefix."""

    bucket: str
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.prefix.strip("/"))

    def _key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    @property
    def meta_key(self) -> str:
        """Key of the metadata JSON the download endpoint reads."""
        return self._key("meta.json")

    @property
    def feed_prefix(self) -> str:
        """Key prefix (ending in '/') of the Velopack update feed."""
        return self._key("feed") + "/"

    def installer_key(self, version: str, filename: str) -> str:
        """Key of the installer of `version`."""
        return self._key("installers", version, filename)

    def feed_key(self, filename: str) -> str:
        """Key of one file of the Velopack feed."""
        return self.feed_prefix + filename

    def uri(self, key: str) -> str:
        """`s3://bucket/key` form, as the server's configuration accepts it."""
        return f"s3://{self.bucket}/{key}"
