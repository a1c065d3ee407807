"""`veracity-release publish` end to end against moto's real HTTP server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.release.fake_artifacts import PACK_ID, make_fake_release
from tests.release.s3_fixtures import bucket_snapshot
from veracity_release.cli import main

PREFIX = "ibkr-connector/windows"


def publish(bucket: str, releases_dir: Path, version: str, *extra: str) -> int:
    """Run the publish command as a maintainer would (the fake installers are not signed PE
    files: tests/release/test_signing.py covers the signature gate)."""
    return main(["publish", "--bucket", bucket, "--releases-dir", str(releases_dir),
                 "--version", version, "--allow-unsigned", *extra])


def read_json(client: Any, bucket: str, key: str) -> Any:
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def object_sha256(client: Any, bucket: str, key: str) -> str:
    return hashlib.sha256(client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def test_publish_uploads_installer_feed_and_metadata(tmp_path, s3_client, s3_bucket, capsys):
    release = make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish(s3_bucket, release.folder, "1.2.0", "--notes", "Faster sync",
                   "--release-notes-url", "https://example.com/notes/1.2.0") == 0

    meta = read_json(s3_client, s3_bucket, f"{PREFIX}/meta.json")
    installer_name = f"{PACK_ID}-1.2.0-win-Setup.exe"
    installer_key = f"{PREFIX}/installers/1.2.0/{installer_name}"
    assert meta["version"] == "1.2.0"
    assert meta["sha256"] == release.installer_sha256
    assert meta["size"] == release.installer.stat().st_size
    assert meta["filename"] == installer_name
    assert meta["notes"] == "Faster sync"
    assert meta["release_notes_url"] == "https://example.com/notes/1.2.0"
    assert meta["s3"] == {"bucket": s3_bucket, "key": installer_key}
    assert meta["feed"] == f"s3://{s3_bucket}/{PREFIX}/feed/"
    assert meta["published_at"].endswith("Z")
    assert object_sha256(s3_client, s3_bucket, installer_key) == release.installer_sha256
    head = s3_client.head_object(Bucket=s3_bucket, Key=installer_key)
    assert head["Metadata"]["sha256"] == release.installer_sha256
    assert installer_name in head["ContentDisposition"]
    feed = read_json(s3_client, s3_bucket, f"{PREFIX}/feed/releases.win.json")
    assert [asset["FileName"] for asset in feed["Assets"]] == [release.full_package.name]
    assert object_sha256(s3_client, s3_bucket, f"{PREFIX}/feed/{release.full_package.name}") \
        == hashlib.sha256(release.full_package.read_bytes()).hexdigest()
    output = capsys.readouterr().out
    assert "[5/5] published 1.2.0" in output


def test_republishing_same_version_without_force_fails_and_changes_nothing(
        tmp_path, s3_client, s3_bucket, capsys):
    make_fake_release(tmp_path / "first", "1.2.0")
    assert publish(s3_bucket, tmp_path / "first", "1.2.0") == 0
    before = bucket_snapshot(s3_client, s3_bucket)
    rebuilt = make_fake_release(tmp_path / "second", "1.2.0")  # same version, other bytes

    assert publish(s3_bucket, rebuilt.folder, "1.2.0") == 1

    assert bucket_snapshot(s3_client, s3_bucket) == before
    error = capsys.readouterr().err
    assert "1.2.0 is already published" in error
    assert "--force" in error
    assert read_json(s3_client, s3_bucket, f"{PREFIX}/meta.json")["sha256"] != \
        rebuilt.installer_sha256


def test_force_overwrites_a_published_version(tmp_path, s3_client, s3_bucket):
    make_fake_release(tmp_path / "first", "1.2.0")
    assert publish(s3_bucket, tmp_path / "first", "1.2.0") == 0
    rebuilt = make_fake_release(tmp_path / "second", "1.2.0")

    assert publish(s3_bucket, rebuilt.folder, "1.2.0", "--force") == 0

    meta = read_json(s3_client, s3_bucket, f"{PREFIX}/meta.json")
    assert meta["sha256"] == rebuilt.installer_sha256
    assert object_sha256(s3_client, s3_bucket, meta["s3"]["key"]) == rebuilt.installer_sha256
    feed = read_json(s3_client, s3_bucket, f"{PREFIX}/feed/releases.win.json")
    assert [asset["Version"] for asset in feed["Assets"]] == ["1.2.0"]


def test_a_new_version_keeps_the_older_ones_in_the_update_feed(tmp_path, s3_client, s3_bucket):
    make_fake_release(tmp_path / "Releases", "1.2.0")
    assert publish(s3_bucket, tmp_path / "Releases", "1.2.0") == 0
    newer = make_fake_release(tmp_path / "Releases", "1.3.0", previous_versions=("1.2.0",))

    assert publish(s3_bucket, newer.folder, "1.3.0") == 0

    feed = read_json(s3_client, s3_bucket, f"{PREFIX}/feed/releases.win.json")
    assert [(asset["Version"], asset["Type"]) for asset in feed["Assets"]] == \
        [("1.2.0", "Full"), ("1.3.0", "Full"), ("1.3.0", "Delta")]
    keys = bucket_snapshot(s3_client, s3_bucket)
    for asset in feed["Assets"]:
        assert f"{PREFIX}/feed/{asset['FileName']}" in keys
    assert read_json(s3_client, s3_bucket, f"{PREFIX}/meta.json")["version"] == "1.3.0"
    assert f"{PREFIX}/installers/1.2.0/{PACK_ID}-1.2.0-win-Setup.exe" in keys


def test_dry_run_prints_every_action_and_writes_nothing(tmp_path, s3_client, s3_bucket, capsys):
    release = make_fake_release(tmp_path / "Releases", "2.0.0")

    assert publish(s3_bucket, release.folder, "2.0.0", "--dry-run") == 0

    assert bucket_snapshot(s3_client, s3_bucket) == {}
    output = capsys.readouterr().out
    for key in (f"{PREFIX}/feed/{release.full_package.name}",
                f"{PREFIX}/installers/2.0.0/{PACK_ID}-2.0.0-win-Setup.exe",
                f"{PREFIX}/feed/releases.win.json", f"{PREFIX}/meta.json"):
        assert "would upload" in output and f"s3://{s3_bucket}/{key}" in output
    assert release.installer_sha256 in output
    assert "nothing was changed" in output


def test_custom_prefix_is_used_for_every_key(tmp_path, s3_client, s3_bucket):
    make_fake_release(tmp_path / "Releases", "1.0.0")

    assert publish(s3_bucket, tmp_path / "Releases", "1.0.0", "--prefix", "/staging/win/") == 0

    assert all(key.startswith("staging/win/") for key in bucket_snapshot(s3_client, s3_bucket))


@pytest.mark.parametrize(("setup", "expected"), [
    ("missing_folder", "releases folder not found"),
    ("no_installer", "expected exactly one *-win-Setup.exe installer"),
    ("no_feed_index", "Velopack feed index not found"),
    ("broken_feed_index", "is not valid JSON"),
    ("other_version", "has no Full package for version 1.2.0"),
    ("missing_package", "file not found"),
])
def test_broken_release_folder_is_refused_before_any_upload(
        tmp_path, s3_client, s3_bucket, capsys, setup, expected):
    folder = tmp_path / "Releases"
    if setup != "missing_folder":
        release = make_fake_release(folder, "1.1.0" if setup == "other_version" else "1.2.0")
        if setup == "no_installer":
            release.installer.unlink()
        elif setup == "no_feed_index":
            (folder / "releases.win.json").unlink()
        elif setup == "broken_feed_index":
            (folder / "releases.win.json").write_text("{not json", encoding="utf-8")
        elif setup == "missing_package":
            release.full_package.unlink()

    assert publish(s3_bucket, folder, "1.2.0") == 1

    assert expected in capsys.readouterr().err
    assert bucket_snapshot(s3_client, s3_bucket) == {}


def test_missing_bucket_is_a_clear_error(tmp_path, s3_client, capsys):
    make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish("no-such-bucket-here", tmp_path / "Releases", "1.2.0") == 1

    assert "bucket 'no-such-bucket-here' does not exist" in capsys.readouterr().err


def test_missing_credentials_is_a_clear_error(tmp_path, aws_environment, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish("any-bucket", tmp_path / "Releases", "1.2.0") == 1

    assert "no AWS credentials found" in capsys.readouterr().err


def test_unreachable_endpoint_is_a_clear_error(tmp_path, s3_bucket, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish(s3_bucket, tmp_path / "Releases", "1.2.0") == 1

    assert "cannot reach the S3 endpoint" in capsys.readouterr().err


def test_endpoint_url_option_overrides_the_environment(tmp_path, s3_client, s3_bucket,
                                                       moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish(s3_bucket, tmp_path / "Releases", "1.2.0", "--endpoint-url",
                   moto_endpoint) == 0

    assert f"{PREFIX}/meta.json" in bucket_snapshot(s3_client, s3_bucket)


def test_non_semver_version_is_refused(tmp_path, s3_client, s3_bucket, capsys):
    make_fake_release(tmp_path / "Releases", "1.2.0.0")

    assert publish(s3_bucket, tmp_path / "Releases", "1.2.0.0") == 1

    assert "is not semver2" in capsys.readouterr().err
    assert bucket_snapshot(s3_client, s3_bucket) == {}


def test_notes_can_come_from_a_file(tmp_path, s3_client, s3_bucket):
    make_fake_release(tmp_path / "Releases", "1.2.0")
    notes = tmp_path / "notes.md"
    notes.write_text("Line one\nLine two\n", encoding="utf-8")

    assert publish(s3_bucket, tmp_path / "Releases", "1.2.0", "--notes-file", str(notes)) == 0

    assert read_json(s3_client, s3_bucket, f"{PREFIX}/meta.json")["notes"] == \
        "Line one\nLine two"


def test_a_corrupt_metadata_file_is_replaced_by_the_next_publish(tmp_path, s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}/meta.json", Body=b"{half a file")
    release = make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish(s3_bucket, release.folder, "1.2.0") == 0

    assert read_json(s3_client, s3_bucket, f"{PREFIX}/meta.json")["sha256"] == \
        release.installer_sha256


def test_a_metadata_file_that_cannot_be_read_stops_the_publish(tmp_path, s3_client, s3_bucket,
                                                               monkeypatch, capsys):
    import botocore.exceptions

    import veracity_release.s3


    s3_client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}/meta.json",
                         Body=json.dumps({"version": "1.2.0"}).encode())
    before = bucket_snapshot(s3_client, s3_bucket)
    original = veracity_release.s3.read_object_text

    def denied_for_meta(client: Any, bucket: str, key: str) -> str | None:
        if key.endswith("meta.json"):  # as S3 answers a policy that allows HEAD but not GET
            with veracity_release.s3.explained_s3_errors(bucket, f"read {key}"):
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        return original(client, bucket, key)

    monkeypatch.setattr(veracity_release.s3, "read_object_text", denied_for_meta)
    make_fake_release(tmp_path / "Releases", "1.2.0")

    assert publish(s3_bucket, tmp_path / "Releases", "1.2.0") == 1

    assert "denied" in capsys.readouterr().err
    assert bucket_snapshot(s3_client, s3_bucket) == before
