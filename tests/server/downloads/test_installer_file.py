"""Local-file mode: the installer streamed with ETag, Last-Modified, ranges and conditional GET."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.server.downloads.helpers import API, sha256, write_installer

SIZE = 100_002  # write_installer adds the two "MZ" bytes


@pytest.fixture
def installer(tmp_path):
    path = tmp_path / "VeracityIBKRConnector-1.0.0-win-Setup.exe"
    write_installer(path, SIZE - 2)
    return path


@pytest.fixture
def client(downloads_app, installer):
    return downloads_app(file=str(installer), version="1.0.0").test_client()


def test_full_download_carries_its_checksum_and_validators(client, installer):
    response = client.get(f"{API}/installer")

    content = installer.read_bytes()
    assert response.status_code == 200
    assert response.data == content
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["X-Checksum-SHA256"] == sha256(content)
    assert response.headers["ETag"] == f'"{sha256(content)}"'
    assert response.headers["Repr-Digest"] == \
        f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{installer.name}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.last_modified is not None
    assert response.headers["Content-Type"] == "application/vnd.microsoft.portable-executable"


def test_the_metadata_sha256_is_the_hash_of_the_served_bytes(client):
    served = client.get(API).json

    body = client.get(f"{API}/installer").data

    assert served["sha256"] == sha256(body)
    assert served["size"] == len(body)


def test_range_request_gets_206_with_the_slice(client, installer):
    response = client.get(f"{API}/installer", headers={"Range": "bytes=100-199"})

    assert response.status_code == 206
    assert response.data == installer.read_bytes()[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{SIZE}"
    assert response.headers["Content-Length"] == "100"


def test_suffix_range_gets_the_tail(client, installer):
    response = client.get(f"{API}/installer", headers={"Range": "bytes=-10"})

    assert response.status_code == 206
    assert response.data == installer.read_bytes()[-10:]


def test_resumed_download_reassembles_to_the_published_hash(client):
    expected = client.get(API).json["sha256"]
    first = client.get(f"{API}/installer", headers={"Range": "bytes=0-49999"}).data
    rest = client.get(f"{API}/installer", headers={"Range": "bytes=50000-"}).data

    assert sha256(first + rest) == expected


def test_unsatisfiable_range_gets_416(client):
    response = client.get(f"{API}/installer", headers={"Range": f"bytes={SIZE + 10}-"})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


def test_if_none_match_with_the_etag_gets_304(client):
    etag = client.get(f"{API}/installer").headers["ETag"]

    response = client.get(f"{API}/installer", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""


def test_if_none_match_with_another_etag_gets_the_file(client):
    response = client.get(f"{API}/installer", headers={"If-None-Match": '"other"'})

    assert response.status_code == 200
    assert len(response.data) == SIZE


def test_if_modified_since_after_the_change_gets_304(client):
    last_modified = client.get(f"{API}/installer").headers["Last-Modified"]

    response = client.get(f"{API}/installer", headers={"If-Modified-Since": last_modified})

    assert response.status_code == 304


def test_if_range_with_the_current_etag_gets_the_range(client):
    etag = client.get(f"{API}/installer").headers["ETag"]

    response = client.get(f"{API}/installer", headers={"Range": "bytes=0-9", "If-Range": etag})

    assert response.status_code == 206
    assert len(response.data) == 10


def test_if_range_with_a_stale_etag_gets_the_whole_new_file(client):
    response = client.get(f"{API}/installer", headers={"Range": "bytes=0-9",
                                                        "If-Range": '"stale"'})

    assert response.status_code == 200
    assert len(response.data) == SIZE


def test_head_gives_the_headers_without_the_body(client):
    response = client.head(f"{API}/installer")

    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.data == b""


def test_replaced_file_is_hashed_again(client, installer):
    before = client.get(API).json["sha256"]
    replacement = installer.with_suffix(".new")
    replacement.write_bytes(b"MZ" + os.urandom(5000))
    os.replace(replacement, installer)  # how a deployment swaps the installer atomically

    after = client.get(API).json
    response = client.get(f"{API}/installer")

    assert after["sha256"] != before
    assert after["sha256"] == sha256(response.data) == response.headers["X-Checksum-SHA256"]
    assert after["size"] == 5002
