"""The meta JSON is re-read when it changes: a local file by fingerprint, S3 by ETag."""

from __future__ import annotations

import json
import os

import pytest

from tests.server.downloads.helpers import API, write_meta
from veracity_server.downloads.metadata import NotConfigured, S3Object
from veracity_server.downloads.sources import MetaObjectSource
from veracity_server.downloads.storage import S3Storage

URL = "https://cdn.example.com/Setup.exe"


def version(client) -> str:
    return client.get(API).json["version"]


def test_rewritten_meta_file_is_served_at_once(downloads_app, tmp_path):
    meta = write_meta(tmp_path / "meta.json", {"version": "1.0.0", "url": URL})
    client = downloads_app(meta_path=str(meta)).test_client()
    assert version(client) == "1.0.0"

    replacement = tmp_path / "meta.json.new"
    write_meta(replacement, {"version": "1.1.0", "url": URL})
    os.replace(replacement, meta)

    assert version(client) == "1.1.0"


def test_meta_file_broken_then_fixed_recovers_without_restart(downloads_app, tmp_path):
    meta = write_meta(tmp_path / "meta.json", {"version": "1.0.0", "url": URL})
    client = downloads_app(meta_path=str(meta)).test_client()
    meta.write_text("{", encoding="utf-8")
    assert client.get(API).status_code == 503

    write_meta(meta, {"version": "1.2.0", "url": URL, "notes": "fixed"})

    assert version(client) == "1.2.0"


def test_s3_meta_change_is_seen_after_the_refresh_interval(downloads_app, s3_client, s3_bucket):
    key = "win/meta.json"
    s3_client.put_object(Bucket=s3_bucket, Key=key,
                         Body=json.dumps({"version": "1.0.0", "url": URL}))
    client = downloads_app(meta_path=f"s3://{s3_bucket}/{key}", refresh_s="0").test_client()
    assert version(client) == "1.0.0"

    s3_client.put_object(Bucket=s3_bucket, Key=key,
                         Body=json.dumps({"version": "2.0.0", "url": URL}))

    assert version(client) == "2.0.0"


class CountingStorage(S3Storage):
    """The real S3 storage, counting the reads of the meta object and how many changed."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.downloads = 0

    def read_if_changed(self, obj, etag):
        self.reads += 1
        answer = super().read_if_changed(obj, etag)
        self.downloads += answer is not None
        return answer


def test_s3_meta_is_not_read_per_request_and_not_downloaded_unchanged(s3_client, s3_bucket):
    key = "meta.json"
    s3_client.put_object(Bucket=s3_bucket, Key=key,
                         Body=json.dumps({"version": "1.0.0", "url": URL}))
    now = [0.0]
    storage = CountingStorage()
    source = MetaObjectSource(S3Object(s3_bucket, key), storage, refresh_s=30,
                              clock=lambda: now[0])

    for _ in range(10):
        assert source.read().version == "1.0.0"
    assert (storage.reads, storage.downloads) == (1, 1)

    now[0] = 31.0  # past the refresh interval: a conditional GET, answered "not modified"
    assert source.read().version == "1.0.0"
    assert (storage.reads, storage.downloads) == (2, 1)

    s3_client.put_object(Bucket=s3_bucket, Key=key,
                         Body=json.dumps({"version": "1.1.0", "url": URL}))
    now[0] = 45.0  # changed, but inside the interval: still the cached release
    assert source.read().version == "1.0.0"
    now[0] = 62.0
    assert source.read().version == "1.1.0"
    assert (storage.reads, storage.downloads) == (3, 2)


def test_s3_outage_keeps_serving_the_last_good_release(s3_client, s3_bucket, monkeypatch,
                                                      caplog):
    key = "meta.json"
    s3_client.put_object(Bucket=s3_bucket, Key=key,
                         Body=json.dumps({"version": "1.0.0", "url": URL}))
    now = [0.0]
    storage = S3Storage(path_style=True)  # moto: a bare host:port
    source = MetaObjectSource(S3Object(s3_bucket, key), storage, refresh_s=1,
                              clock=lambda: now[0])
    assert source.read().version == "1.0.0"

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # S3 stops answering
    storage._client = None  # the next read makes a client for the unreachable endpoint
    now[0] = 5.0

    assert source.read().version == "1.0.0"
    assert "could not re-check" in caplog.text


def test_s3_meta_deleted_stops_the_downloads(s3_client, s3_bucket):
    key = "meta.json"
    s3_client.put_object(Bucket=s3_bucket, Key=key,
                         Body=json.dumps({"version": "1.0.0", "url": URL}))
    now = [0.0]
    source = MetaObjectSource(S3Object(s3_bucket, key), S3Storage(path_style=True), refresh_s=1,
                              clock=lambda: now[0])
    assert source.read().version == "1.0.0"

    s3_client.delete_object(Bucket=s3_bucket, Key=key)
    now[0] = 2.0

    with pytest.raises(NotConfigured, match="does not exist"):
        source.read()
