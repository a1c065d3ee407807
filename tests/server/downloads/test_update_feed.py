"""The Velopack feed: the index from the server, packages from storage (S3 or a folder)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.server.downloads.helpers import API, sha256, write_meta

URL = "https://cdn.example.com/Setup.exe"
FULL = "VeracityIBKRConnector-1.0.0-full.nupkg"
PACKAGE = b"PK" + bytes(range(256)) * 40
INDEX = {"Assets": [{"PackageId": "VeracityIBKRConnector", "Version": "1.0.0", "Type": "Full",
                     "FileName": FULL, "SHA256": sha256(PACKAGE), "Size": len(PACKAGE)}]}


@pytest.fixture
def s3_feed_client(downloads_app, s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key="win/feed/releases.win.json",
                         Body=json.dumps(INDEX))
    s3_client.put_object(Bucket=s3_bucket, Key=f"win/feed/{FULL}", Body=PACKAGE)
    s3_client.put_object(Bucket=s3_bucket, Key="win/feed/unlisted.nupkg", Body=b"PK")
    return downloads_app(url=URL, version="1.0.0", feed=f"s3://{s3_bucket}/win/feed/").test_client()


@pytest.fixture
def folder_feed_client(downloads_app, tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "releases.win.json").write_text(json.dumps(INDEX), encoding="utf-8")
    (feed / FULL).write_bytes(PACKAGE)
    (feed / "unlisted.nupkg").write_bytes(b"PK")
    (tmp_path / "secret.txt").write_text("not for the feed", encoding="utf-8")
    return downloads_app(url=URL, version="1.0.0", feed=str(feed)).test_client()


def test_s3_feed_index_is_served_by_the_server(s3_feed_client):
    # Velopack adds its own query string to the feed URL; it must not matter.
    response = s3_feed_client.get(f"{API}/updates/releases.win.json?localVersion=0.9.0&id=x")

    assert response.status_code == 200
    assert response.json == INDEX
    assert response.headers["Cache-Control"] == "no-cache"


def test_s3_feed_package_redirects_to_a_presigned_url_with_the_bytes(s3_feed_client):
    response = s3_feed_client.get(f"{API}/updates/{FULL}")

    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    assert "X-Amz-Signature=" in response.headers["Location"]
    assert sha256(requests.get(response.headers["Location"], timeout=10).content) == \
        INDEX["Assets"][0]["SHA256"]


def test_folder_feed_serves_index_and_packages(folder_feed_client):
    index = folder_feed_client.get(f"{API}/updates/releases.win.json")
    package = folder_feed_client.get(f"{API}/updates/{FULL}")

    assert index.json == INDEX
    assert package.status_code == 200
    assert package.data == PACKAGE


def test_folder_feed_package_supports_ranges(folder_feed_client):
    response = folder_feed_client.get(f"{API}/updates/{FULL}", headers={"Range": "bytes=2-5"})

    assert response.status_code == 206
    assert response.data == PACKAGE[2:6]


@pytest.mark.parametrize("client_fixture", ["s3_feed_client", "folder_feed_client"])
@pytest.mark.parametrize("name", ["unlisted.nupkg", "missing.nupkg", "..", "..%2Fsecret.txt",
                                  "releases.beta.json", "RELEASES"])
def test_files_the_index_does_not_list_are_404(request, client_fixture, name):
    client = request.getfixturevalue(client_fixture)

    response = client.get(f"{API}/updates/{name}")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_release_without_a_feed_is_503(downloads_app, caplog):
    client = downloads_app(url=URL, version="1.0.0").test_client()

    response = client.get(f"{API}/updates/releases.win.json")

    assert response.status_code == 503
    assert "no update feed configured for version 1.0.0" in caplog.text


def test_a_broken_feed_index_is_503(downloads_app, tmp_path, caplog):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "releases.win.json").write_text('{"Assets": [{"FileName": "../x"}]}',
                                            encoding="utf-8")
    client = downloads_app(url=URL, version="1.0.0", feed=str(feed)).test_client()

    assert client.get(f"{API}/updates/releases.win.json").status_code == 503
    assert "lists a file name with a path" in caplog.text


def test_feed_folder_in_meta_is_relative_to_the_meta_file(downloads_app, tmp_path):
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "releases.win.json").write_text(json.dumps(INDEX), encoding="utf-8")
    meta = write_meta(tmp_path / "meta.json", {"version": "1.0.0", "url": URL, "feed": "feed"})

    client = downloads_app(meta_path=str(meta)).test_client()
    response = client.get(f"{API}/updates/releases.win.json")

    assert response.json == INDEX
