"""`publish`: upload a packed release to the bucket, verify every byte, then make it live.

The order is the checklist: check the bucket, refuse an already-published version (unless
forced), upload the feed packages, the installer, the merged feed index, and only then the
metadata JSON — the download endpoint never points at an object that is not there yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veracity_release.artifacts import (
    SETUP_SUFFIX,
    ReleaseArtifacts,
    find_release_artifacts,
    parse_feed_index,
)
from veracity_release.checksums import sha256_of_chunks
from veracity_release.errors import InvalidJSONError, ReleaseError
from veracity_release.layout import FEED_INDEX_NAME, BucketLayout
from veracity_release.s3 import (
    check_bucket,
    explained_s3_errors,
    object_exists,
    read_object_json,
    read_object_text,
    sha256_of_object,
)
from veracity_release.signing import has_authenticode_signature
from veracity_release.versioning import checked_version

INSTALLER_CONTENT_TYPE = "application/vnd.microsoft.portable-executable"


@dataclass(frozen=True)
class PublishOptions:
    """What to publish and where; `dry_run` reads the bucket but changes nothing."""

    releases_dir: Path
    version: str
    layout: BucketLayout
    notes: str | None = None
    release_notes_url: str | None = None
    force: bool = False
    dry_run: bool = False
    published_at: datetime | None = None
    # Windows warns users away from an unsigned installer: publishing one is a loud exception.
    allow_unsigned: bool = False


@dataclass(frozen=True)
class Upload:
    """One object to write: from a file (`path`) or a generated document (`body`)."""

    key: str
    description: str
    content_type: str
    sha256: str
    size: int
    path: Path | None = None
    body: bytes | None = None
    extra_args: dict[str, Any] = field(default_factory=dict)


def publish_release(client: Any, options: PublishOptions, report: Callable[[str], None],
                    warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Publish the release in `options.releases_dir`; return the metadata JSON written."""
    layout, version = options.layout, checked_version(options.version)
    warn = warn or report
    report(f"[1/5] collect the artifacts of {version} in {options.releases_dir}")
    artifacts = find_release_artifacts(options.releases_dir, version)
    check_installer_signature(artifacts.installer.path, options.allow_unsigned, warn)
    report(f"[2/5] check bucket {layout.bucket!r}")
    check_bucket(client, layout.bucket)
    installer_name = installer_filename(artifacts)
    report(f"[3/5] check that {version} is not published yet")
    already = existing_release_evidence(client, layout, version, installer_name)
    if already and not options.force:
        raise ReleaseError(f"version {version} is already published ({'; '.join(already)}); "
                           "nothing was changed. Pass --force to overwrite it.")
    if already:
        report(f"      --force: overwriting {version} ({'; '.join(already)})")
    metadata = release_metadata(layout, artifacts, installer_name, options)
    uploads = planned_uploads(client, layout, artifacts, installer_name, metadata)
    verb = "would upload" if options.dry_run else "upload and verify"
    report(f"[4/5] {verb} {len(uploads)} objects")
    for upload in uploads:
        report(f"      {verb} {upload.description}: {layout.uri(upload.key)} "
               f"({upload.size} bytes, sha256 {upload.sha256})")
        if not options.dry_run:
            upload_verified(client, layout.bucket, upload)
    if options.dry_run:
        report("[5/5] dry run: nothing was changed. The metadata would be:")
    else:
        report(f"[5/5] published {version}; metadata at {layout.uri(layout.meta_key)}:")
    report(json.dumps(metadata, indent=2))
    return metadata


def check_installer_signature(installer: Path, allow_unsigned: bool,
                              warn: Callable[[str], None]) -> None:
    """Refuse an installer without an Authenticode signature, unless explicitly allowed."""
    if has_authenticode_signature(installer):
        return
    if not allow_unsigned:
        raise ReleaseError(
            f"{installer.name} is not signed (no Authenticode signature): Windows would warn "
            "every user away from it. Sign it (`veracity-release sign`, docs/release.md "
            "'Signing') or pass --allow-unsigned for a test release; nothing was changed.")
    banner = "!" * 78
    warn(f"{banner}\n!! PUBLISHING AN UNSIGNED INSTALLER (--allow-unsigned): {installer.name}\n"
         f"!! Windows SmartScreen will warn users that the publisher is unknown.\n{banner}")


def installer_filename(artifacts: ReleaseArtifacts) -> str:
    """The name users' browsers save: `<PackId>-<version>-win-Setup.exe`."""
    pack_id = artifacts.installer.path.name.removesuffix(SETUP_SUFFIX)
    return f"{pack_id}-{artifacts.version}{SETUP_SUFFIX}"


def existing_release_evidence(client: Any, layout: BucketLayout, version: str,
                              installer_name: str) -> list[str]:
    """Reasons to believe `version` is already in the bucket (empty when it is not)."""
    evidence = []
    installer_key = layout.installer_key(version, installer_name)
    if object_exists(client, layout.bucket, installer_key):
        evidence.append(f"{layout.uri(installer_key)} exists")
    try:
        meta = read_object_json(client, layout.bucket, layout.meta_key)
    except InvalidJSONError:
        # Only a corrupt meta.json names no version (publishing replaces it); access denied
        # or an unreachable endpoint must stop the publish, not pass as "no release yet".
        meta = None
    if isinstance(meta, dict) and meta.get("version") == version:
        evidence.append(f"{layout.uri(layout.meta_key)} already names {version}")
    feed = remote_feed_assets(client, layout)
    if any(asset.get("Version") == version for asset in feed):
        evidence.append(f"the update feed already lists {version}")
    return evidence


def remote_feed_assets(client: Any, layout: BucketLayout) -> list[dict[str, Any]]:
    """Assets of the feed index in the bucket (empty for a first release)."""
    key = layout.feed_key(FEED_INDEX_NAME)
    text = read_object_text(client, layout.bucket, key)
    if text is None:
        return []
    return list(parse_feed_index(text, layout.uri(key))["Assets"])


def release_metadata(layout: BucketLayout, artifacts: ReleaseArtifacts, installer_name: str,
                     options: PublishOptions) -> dict[str, Any]:
    """The metadata JSON the download endpoint reads (keys as in docs/release.md)."""
    published_at = options.published_at or datetime.now(UTC)
    return {
        "version": artifacts.version,
        "published_at": published_at.astimezone(UTC).isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "sha256": artifacts.installer.sha256,
        "size": artifacts.installer.size,
        "filename": installer_name,
        "notes": options.notes,
        "release_notes_url": options.release_notes_url,
        "s3": {"bucket": layout.bucket,
               "key": layout.installer_key(artifacts.version, installer_name)},
        "feed": layout.uri(layout.feed_prefix),
    }


def planned_uploads(client: Any, layout: BucketLayout, artifacts: ReleaseArtifacts,
                    installer_name: str, metadata: dict[str, Any]) -> list[Upload]:
    """Every object to write, in the order that keeps the live release consistent."""
    uploads = [
        Upload(key=layout.feed_key(package.path.name), description="update package",
               content_type="application/octet-stream", sha256=package.sha256,
               size=package.size, path=package.path)
        for package in artifacts.packages
    ]
    installer = artifacts.installer
    uploads.append(Upload(
        key=layout.installer_key(artifacts.version, installer_name), description="installer",
        content_type=INSTALLER_CONTENT_TYPE, sha256=installer.sha256, size=installer.size,
        path=installer.path,
        extra_args={"ContentDisposition": f'attachment; filename="{installer_name}"'},
    ))
    uploads.append(_document_upload(layout.feed_key(FEED_INDEX_NAME), "update feed index",
                                    merged_feed_index(client, layout, artifacts)))
    uploads.append(_document_upload(layout.meta_key, "release metadata", metadata))
    return uploads


def merged_feed_index(client: Any, layout: BucketLayout,
                      artifacts: ReleaseArtifacts) -> dict[str, Any]:
    """The bucket's feed plus this version's packages (a re-published version replaces its own)."""
    kept = [asset for asset in remote_feed_assets(client, layout)
            if asset.get("Version") != artifacts.version]
    return {"Assets": kept + artifacts.feed_assets}


def _document_upload(key: str, description: str, document: dict[str, Any]) -> Upload:
    body = (json.dumps(document, indent=2) + "\n").encode("utf-8")
    return Upload(key=key, description=description, content_type="application/json",
                  sha256=sha256_of_chunks([body]), size=len(body), body=body,
                  extra_args={"CacheControl": "no-cache"})


def upload_verified(client: Any, bucket: str, upload: Upload) -> None:
    """Write one object, then read it back and compare its SHA-256 and size."""
    extra_args = {"ContentType": upload.content_type, "Metadata": {"sha256": upload.sha256},
                  **upload.extra_args}
    with explained_s3_errors(bucket, f"upload {upload.key}"):
        if upload.path is not None:
            client.upload_file(str(upload.path), bucket, upload.key, ExtraArgs=extra_args)
        else:
            client.put_object(Bucket=bucket, Key=upload.key, Body=upload.body, **extra_args)
    stored_sha256, stored_size = sha256_of_object(client, bucket, upload.key)
    if (stored_sha256, stored_size) != (upload.sha256, upload.size):
        raise ReleaseError(
            f"verification failed for s3://{bucket}/{upload.key}: uploaded {upload.size} bytes "
            f"sha256 {upload.sha256}, the bucket holds {stored_size} bytes sha256 "
            f"{stored_sha256}; publishing stopped here: fix the cause, then publish with --force"
        )
