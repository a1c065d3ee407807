"""`env`: the IBKR_CONNECTOR_WINDOWS_* lines for a server configured by environment.

The recommended URL is the `s3://` form: the server then makes a fresh presigned URL per request,
so the link never goes stale. A presigned URL is printed too (as a comment, or as the value with
`--presigned`) for a quick manual check; it expires.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

from veracity_release.errors import ReleaseError
from veracity_release.layout import BucketLayout
from veracity_release.s3 import check_bucket, presigned_download_url, read_object_json

ENV_PREFIX = "IBKR_CONNECTOR_WINDOWS_"
# SigV4 presigned URLs live at most seven days.
MAX_PRESIGN_S = 7 * 24 * 3600


def environment_lines(client: Any, layout: BucketLayout, *, presigned: bool = False,
                      expires_in_s: int = 3600) -> list[str]:
    """Lines `NAME=value` describing the release whose metadata is in the bucket."""
    if not 1 <= expires_in_s <= MAX_PRESIGN_S:
        raise ReleaseError(f"--expires-in must be between 1 and {MAX_PRESIGN_S} seconds")
    check_bucket(client, layout.bucket)
    meta = read_object_json(client, layout.bucket, layout.meta_key)
    if not isinstance(meta, dict) or not isinstance(meta.get("s3"), dict):
        raise ReleaseError(
            f"no published release at {layout.uri(layout.meta_key)}; run `publish` first"
        )
    bucket, key = meta["s3"].get("bucket"), meta["s3"].get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise ReleaseError(f"{layout.uri(layout.meta_key)} has no s3 bucket/key for the installer")
    signed = presigned_download_url(client, bucket, key, str(meta.get("filename") or
                                                            key.rsplit("/", 1)[-1]), expires_in_s)
    expires_at = (datetime.now(UTC) + timedelta(seconds=expires_in_s)).isoformat(
        timespec="seconds")
    values = {
        "URL": signed if presigned else f"s3://{bucket}/{key}",
        "VERSION": meta.get("version"),
        "PUBLISHED_AT": meta.get("published_at"),
        "SHA256": meta.get("sha256"),
        "SIZE": meta.get("size"),
        "FILENAME": meta.get("filename"),
        "NOTES": meta.get("notes"),
        "RELEASE_NOTES_URL": meta.get("release_notes_url"),
        "FEED": meta.get("feed"),
    }
    lines = [f"{ENV_PREFIX}{name}={shlex.quote(str(value))}"
             for name, value in values.items() if value not in (None, "")]
    if presigned:
        lines.insert(0, f"# WARNING: this URL expires at {expires_at}; "
                        "prefer the s3:// form, which the server presigns per request")
    else:
        lines.append(f"# presigned download URL for a manual check (expires {expires_at}):")
        lines.append(f"# {signed}")
    return lines
