"""`veracity-release publish` to moto's HTTP server, then the server serves exactly that release."""

from __future__ import annotations

import json

import requests

from tests.release.fake_artifacts import make_fake_release
from tests.release.s3_fixtures import bucket_snapshot
from tests.server.downloads.helpers import API, sha256
from veracity_release.cli import main as release_cli

PREFIX = "ibkr-connector/windows"


def publish(bucket, folder, version, *extra) -> int:
    # The fake installers are not signed PE files (tests/release/test_signing.py covers that).
    return release_cli(["publish", "--bucket", bucket, "--releases-dir", str(folder),
                        "--version", version, "--notes", f"Release {version}",
                        "--allow-unsigned", *extra])


def test_the_server_serves_exactly_what_was_published(downloads_app, tmp_path, s3_client,
                                                      s3_bucket):
    release = make_fake_release(tmp_path / "Releases", "1.6.0")
    assert publish(s3_bucket, release.folder, "1.6.0",
                   "--release-notes-url", "https://veracity.example/notes/1.6.0") == 0
    published = json.loads(s3_client.get_object(Bucket=s3_bucket,
                                                Key=f"{PREFIX}/meta.json")["Body"].read())
    client = downloads_app(meta_path=f"s3://{s3_bucket}/{PREFIX}/meta.json").test_client()

    served = client.get(API).json
    redirect = client.get(served["download_url"].removeprefix("http://localhost"))
    download = requests.get(redirect.headers["Location"], timeout=10)

    assert served["version"] == "1.6.0"
    assert served["sha256"] == release.installer_sha256 == published["sha256"]
    assert served["size"] == release.installer.stat().st_size
    assert served["published_at"] == published["published_at"]
    assert served["notes"] == "Release 1.6.0"
    assert served["release_notes_url"] == "https://veracity.example/notes/1.6.0"
    assert served["filename"] == "VeracityIBKRConnector-1.6.0-win-Setup.exe"
    assert redirect.status_code == 302
    assert download.status_code == 200
    assert sha256(download.content) == served["sha256"]
    assert len(download.content) == served["size"]
    assert served["filename"] in download.headers["Content-Disposition"]


def test_the_update_feed_serves_the_published_packages(downloads_app, tmp_path, s3_client,
                                                       s3_bucket):
    make_fake_release(tmp_path / "Releases", "1.6.0")
    assert publish(s3_bucket, tmp_path / "Releases", "1.6.0") == 0
    newer = make_fake_release(tmp_path / "Releases", "1.7.0", previous_versions=("1.6.0",))
    assert publish(s3_bucket, newer.folder, "1.7.0") == 0
    client = downloads_app(meta_path=f"s3://{s3_bucket}/{PREFIX}/meta.json").test_client()

    index = client.get(f"{API}/updates/releases.win.json?localVersion=1.6.0").json

    assert [asset["Version"] for asset in index["Assets"]] == ["1.6.0", "1.7.0", "1.7.0"]
    for asset in index["Assets"]:
        redirect = client.get(f"{API}/updates/{asset['FileName']}")
        package = requests.get(redirect.headers["Location"], timeout=10).content
        assert sha256(package) == asset["SHA256"].lower(), asset["FileName"]


def test_a_refused_republish_leaves_the_served_release_unchanged(downloads_app, tmp_path, s3_client,
                                                                 s3_bucket):
    release = make_fake_release(tmp_path / "first", "1.6.0")
    assert publish(s3_bucket, release.folder, "1.6.0") == 0
    client = downloads_app(meta_path=f"s3://{s3_bucket}/{PREFIX}/meta.json",
                      refresh_s="0").test_client()
    before = (client.get(API).json, bucket_snapshot(s3_client, s3_bucket))

    make_fake_release(tmp_path / "second", "1.6.0")
    assert publish(s3_bucket, tmp_path / "second", "1.6.0") == 1

    assert (client.get(API).json, bucket_snapshot(s3_client, s3_bucket)) == before
    location = client.get(f"{API}/installer").headers["Location"]
    assert sha256(requests.get(location, timeout=10).content) == release.installer_sha256
