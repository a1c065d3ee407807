"""GET .../windows: every variable, every key of the meta JSON, and their precedence."""

from __future__ import annotations

import pytest

from tests.server.downloads.helpers import API, write_installer, write_meta

INSTALLER_URL = "https://cdn.example.com/releases/VeracityIBKRConnector-2.0.0-win-Setup.exe"
SHA = "ab" * 32


def metadata(app) -> dict:
    response = app.test_client().get(API)
    assert response.status_code == 200, response.json
    return response.json


def test_every_environment_variable_is_served(downloads_app):
    app = downloads_app(url=INSTALLER_URL, version="2.0.0", published_at="2026-11-01T09:30:00Z",
                   sha256=SHA.upper(), notes="Faster sync", size="12345",
                   release_notes_url="https://veracity.example/notes/2.0.0",
                   filename="Veracity-Setup.exe")

    assert metadata(app) == {
        "version": "2.0.0", "published_at": "2026-11-01T09:30:00Z", "sha256": SHA,
        "size": 12345, "filename": "Veracity-Setup.exe", "notes": "Faster sync",
        "release_notes_url": "https://veracity.example/notes/2.0.0",
        "download_url": f"http://localhost{API}/installer",
    }


def test_url_mode_redirects_to_the_configured_url(downloads_app):
    app = downloads_app(url=INSTALLER_URL, version="2.0.0")

    response = app.test_client().get(f"{API}/installer")

    assert response.status_code == 302
    assert response.headers["Location"] == INSTALLER_URL
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data == b""
    assert metadata(app)["filename"] == "VeracityIBKRConnector-2.0.0-win-Setup.exe"


def test_file_mode_serves_hash_and_size_of_the_file(downloads_app, tmp_path):
    installer = tmp_path / "VeracityIBKRConnector-1.0.0-win-Setup.exe"
    digest = write_installer(installer, 5000)

    served = metadata(downloads_app(file=str(installer), version="1.0.0"))

    assert (served["sha256"], served["size"]) == (digest, 5002)
    assert served["filename"] == installer.name
    assert served["published_at"] is None


def test_url_takes_precedence_over_file(downloads_app, tmp_path):
    installer = tmp_path / "local.exe"
    write_installer(installer)
    app = downloads_app(url=INSTALLER_URL, file=str(installer), version="2.0.0")

    response = app.test_client().get(f"{API}/installer")

    assert response.headers["Location"] == INSTALLER_URL


def test_meta_file_takes_precedence_over_every_variable(downloads_app, tmp_path):
    meta = write_meta(tmp_path / "meta.json", {
        "version": "3.0.0", "url": "https://cdn.example.com/from-meta.exe",
        "published_at": "2026-11-02T10:00:00+00:00", "notes": "from meta"})
    app = downloads_app(meta_path=str(meta), url=INSTALLER_URL, version="2.0.0", notes="from env",
                   sha256=SHA)

    served = metadata(app)

    assert (served["version"], served["notes"], served["sha256"]) == ("3.0.0", "from meta", None)
    assert app.test_client().get(f"{API}/installer").headers["Location"] == \
        "https://cdn.example.com/from-meta.exe"


def test_meta_file_keys_are_the_variable_names_in_lower_case(downloads_app, tmp_path):
    installer = tmp_path / "files" / "setup.exe"
    digest = write_installer(installer, 1000)
    meta = write_meta(tmp_path / "meta.json", {
        "version": "1.1.0", "file": "files/setup.exe", "published_at": "2026-11-03T08:00:00Z",
        "sha256": digest, "size": 1002, "notes": "n", "filename": "Nice-Name.exe",
        "release_notes_url": "https://veracity.example/n"})

    assert metadata(downloads_app(meta_path=str(meta))) == {
        "version": "1.1.0", "published_at": "2026-11-03T08:00:00Z", "sha256": digest,
        "size": 1002, "filename": "Nice-Name.exe", "notes": "n",
        "release_notes_url": "https://veracity.example/n",
        "download_url": f"http://localhost{API}/installer",
    }


def test_meta_file_written_by_earlier_tooling_in_camel_case_is_accepted(downloads_app, tmp_path):
    meta = write_meta(tmp_path / "meta.json", {
        "version": "0.9.0", "url": INSTALLER_URL, "publishedAt": "2026-10-01T00:00:00Z",
        "releaseNotesUrl": "https://veracity.example/old", "sizeBytes": 777,
        "filename": "Old.exe"})

    served = metadata(downloads_app(meta_path=str(meta)))

    assert served["published_at"] == "2026-10-01T00:00:00Z"
    assert served["release_notes_url"] == "https://veracity.example/old"
    assert served["size"] == 777
    assert served["filename"] == "Old.exe"


def test_meta_s3_object_takes_precedence_over_url_and_file(downloads_app, tmp_path, s3_client,
                                                           s3_bucket):
    body = b"MZ installer in s3"
    s3_client.put_object(Bucket=s3_bucket, Key="win/Setup.exe", Body=body)
    meta = write_meta(tmp_path / "meta.json", {
        "version": "4.0.0", "s3": {"bucket": s3_bucket, "key": "win/Setup.exe"},
        "url": INSTALLER_URL, "file": "missing.exe"})
    app = downloads_app(meta_path=str(meta))

    location = app.test_client().get(f"{API}/installer").headers["Location"]

    assert location.startswith(f"{s3_client.meta.endpoint_url}/{s3_bucket}/win/Setup.exe?")
    assert metadata(app)["size"] == len(body)


def test_environment_url_may_name_an_s3_object(downloads_app, s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key="a/b/Setup.exe", Body=b"MZ abc")
    app = downloads_app(url=f"s3://{s3_bucket}/a/b/Setup.exe", version="1.0.0")

    assert metadata(app)["filename"] == "Setup.exe"
    assert "X-Amz-Signature=" in app.test_client().get(f"{API}/installer").headers["Location"]


def test_app_config_overrides_the_process_environment(downloads_app, monkeypatch):
    monkeypatch.setenv("IBKR_CONNECTOR_WINDOWS_VERSION", "1.0.0")
    monkeypatch.setenv("IBKR_CONNECTOR_WINDOWS_URL", INSTALLER_URL)

    assert metadata(downloads_app())["version"] == "1.0.0"
    assert metadata(downloads_app(version="1.0.1"))["version"] == "1.0.1"


@pytest.mark.parametrize("published_at", ["2026-11-01T09:30:00+02:00", "2026-11-01T07:30:00Z"])
def test_published_at_keeps_its_offset(downloads_app, published_at):
    served = metadata(downloads_app(url=INSTALLER_URL, version="1.0.0", published_at=published_at))

    assert served["published_at"] == published_at


def test_metadata_is_not_cached_by_browsers(downloads_app):
    response = downloads_app(url=INSTALLER_URL, version="1.0.0").test_client().get(API)

    assert response.headers["Cache-Control"] == "no-cache"
