"""S3 mode: a fresh presigned URL per request that downloads exactly the published bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import requests

from tests.server.downloads.helpers import API, sha256, write_meta

BODY = b"MZ" + bytes(range(256)) * 300


def s3_app(downloads_app, tmp_path, s3_client, s3_bucket, **extra):
    s3_client.put_object(Bucket=s3_bucket, Key="win/installers/1.0.0/Setup.exe", Body=BODY,
                         Metadata={"sha256": sha256(BODY)})
    meta = write_meta(tmp_path / "meta.json", {
        "version": "1.0.0", "sha256": sha256(BODY), "size": len(BODY),
        "filename": "VeracityIBKRConnector-1.0.0-win-Setup.exe",
        "s3": {"bucket": s3_bucket, "key": "win/installers/1.0.0/Setup.exe"}})
    return downloads_app(meta_path=str(meta), **extra)


def test_each_request_gets_a_new_presigned_url(downloads_app, tmp_path, s3_client, s3_bucket,
                                              monkeypatch):
    client = s3_app(downloads_app, tmp_path, s3_client, s3_bucket).test_client()
    # SigV4 signs a timestamp with one-second resolution: give each signature its own second,
    # so the test sees whether a URL is made per request rather than cached.
    seconds = iter(range(10_000))
    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    monkeypatch.setattr("botocore.auth.get_current_datetime",
                        lambda: start + timedelta(seconds=next(seconds)))

    first = client.get(f"{API}/installer")
    second = client.get(f"{API}/installer")

    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] != second.headers["Location"]
    assert first.headers["Cache-Control"] == "no-store"


def test_presigned_url_downloads_the_published_bytes_with_a_sensible_name(
        downloads_app, tmp_path, s3_client, s3_bucket):
    client = s3_app(downloads_app, tmp_path, s3_client, s3_bucket).test_client()
    served = client.get(API).json

    location = client.get(f"{API}/installer").headers["Location"]
    download = requests.get(location, timeout=10)

    assert download.status_code == 200
    assert sha256(download.content) == served["sha256"] == sha256(BODY)
    assert len(download.content) == served["size"]
    assert download.headers["Content-Disposition"] == \
        'attachment; filename="VeracityIBKRConnector-1.0.0-win-Setup.exe"'


def test_presigned_url_lifetime_follows_the_setting(downloads_app, tmp_path, s3_client, s3_bucket):
    app = s3_app(downloads_app, tmp_path, s3_client, s3_bucket, presign_ttl_s="120")

    location = app.test_client().get(f"{API}/installer").headers["Location"]

    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["120"]


def test_size_and_sha256_come_from_storage_when_the_meta_omits_them(downloads_app, tmp_path,
                                                                    s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key="Setup.exe", Body=BODY,
                         Metadata={"sha256": sha256(BODY)})
    meta = write_meta(tmp_path / "meta.json",
                      {"version": "1.0.0", "s3": {"bucket": s3_bucket, "key": "Setup.exe"}})

    served = downloads_app(meta_path=str(meta)).test_client().get(API).json

    assert (served["size"], served["sha256"]) == (len(BODY), sha256(BODY))
