"""Every misconfiguration answers 503 not_configured and logs exactly what is wrong."""

from __future__ import annotations

import json
import logging

import pytest

from tests.server.downloads.helpers import API, write_installer, write_meta

URL = "https://cdn.example.com/Setup.exe"
LOGGER = "veracity_server.downloads"


def assert_not_configured(app, caplog, expected_log: str) -> None:
    """Metadata and installer both answer 503 with the error body; the log names the cause."""
    client = app.test_client()
    for path in (API, f"{API}/installer", f"{API}/updates/releases.win.json"):
        response = client.get(path)
        assert response.status_code == 503, (path, response.data)
        assert response.json["error"]["code"] == "not_configured"
    messages = [record.getMessage() for record in caplog.records if record.name == LOGGER
                and record.levelno >= logging.WARNING]
    assert any(expected_log in message for message in messages), messages


ENVIRONMENT_CASES = {
    "nothing configured": ({}, "no release configured"),
    "version missing": ({"url": URL}, "IBKR_CONNECTOR_WINDOWS_VERSION must be a version"),
    "version malformed": ({"url": URL, "version": "latest"}, "got 'latest'"),
    "no location": ({"version": "1.0.0"}, "no installer location"),
    "timestamp malformed": ({"url": URL, "version": "1.0.0", "published_at": "yesterday"},
                            "IBKR_CONNECTOR_WINDOWS_PUBLISHED_AT 'yesterday' is not an ISO 8601"),
    "timestamp without zone": ({"url": URL, "version": "1.0.0",
                                "published_at": "2026-11-01T10:00:00"}, "has no time zone"),
    "sha256 malformed": ({"url": URL, "version": "1.0.0", "sha256": "abc123"},
                         "IBKR_CONNECTOR_WINDOWS_SHA256 must be 64 hex characters"),
    "sha256 not hex": ({"url": URL, "version": "1.0.0", "sha256": "g" * 64},
                       "must be 64 hex characters"),
    "size not a number": ({"url": URL, "version": "1.0.0", "size": "12kB"},
                          "IBKR_CONNECTOR_WINDOWS_SIZE '12kB' is not a whole number"),
    "url not http": ({"url": "ftp://example.com/Setup.exe", "version": "1.0.0"},
                     "IBKR_CONNECTOR_WINDOWS_URL must be an http(s) URL"),
    "s3 url without key": ({"url": "s3://bucket-only", "version": "1.0.0"},
                           "is not an s3://bucket/key URI"),
    "release notes url not http": ({"url": URL, "version": "1.0.0",
                                    "release_notes_url": "javascript:alert(1)"},
                                   "IBKR_CONNECTOR_WINDOWS_RELEASE_NOTES_URL must be an http(s)"),
    "filename with a path": ({"url": URL, "version": "1.0.0", "filename": "../evil.exe"},
                             "is not a plain file name"),
}


@pytest.mark.parametrize(("settings", "expected_log"), ENVIRONMENT_CASES.values(),
                         ids=ENVIRONMENT_CASES.keys())
def test_bad_environment_is_503_with_a_log_line(downloads_app, caplog, settings, expected_log):
    assert_not_configured(downloads_app(**settings), caplog, expected_log)


def test_missing_file_is_503(downloads_app, caplog, tmp_path):
    app = downloads_app(file=str(tmp_path / "gone.exe"), version="1.0.0")

    assert_not_configured(app, caplog, f"installer file {tmp_path / 'gone.exe'}")


def test_file_that_is_a_folder_is_503(downloads_app, caplog, tmp_path):
    app = downloads_app(file=str(tmp_path), version="1.0.0")

    assert_not_configured(app, caplog, "cannot be read")


def test_configured_sha256_that_does_not_match_the_file_is_503(downloads_app, caplog, tmp_path):
    installer = tmp_path / "Setup.exe"
    actual = write_installer(installer)
    app = downloads_app(file=str(installer), version="1.0.0", sha256="0" * 64)

    assert_not_configured(app, caplog, f"does not match the file {installer}, whose SHA-256 is "
                                       f"{actual}")


def test_configured_size_that_does_not_match_the_file_is_503(downloads_app, caplog, tmp_path):
    installer = tmp_path / "Setup.exe"
    write_installer(installer, 100)
    app = downloads_app(file=str(installer), version="1.0.0", size="5")

    assert_not_configured(app, caplog, "configured size 5 (environment) does not match")


def test_file_changed_after_start_to_no_longer_match_its_sha256_is_503(downloads_app, caplog,
                                                                       tmp_path):
    installer = tmp_path / "Setup.exe"
    digest = write_installer(installer)
    app = downloads_app(file=str(installer), version="1.0.0", sha256=digest)
    assert app.test_client().get(API).status_code == 200

    write_installer(installer)  # someone replaced the file but not the configured hash

    assert_not_configured(app, caplog, "does not match the file")


META_CASES = {
    "not json": ("{version: 1.0.0", "is not valid JSON"),
    "not an object": (["1.0.0"], "the top level must be a JSON object"),
    "s3 not an object": ({"version": "1.0.0", "s3": "bucket/key"},
                         "'s3' must be an object with 'bucket' and 'key'"),
    "s3 without key": ({"version": "1.0.0", "s3": {"bucket": "b"}},
                       "'s3' must be an object with 'bucket' and 'key'"),
    "negative size": ({"version": "1.0.0", "url": URL, "size": -1},
                      "'size' must be a whole number of bytes"),
    "size as text": ({"version": "1.0.0", "url": URL, "size": "10"},
                     "'size' must be a whole number of bytes"),
    "sha256 wrong type": ({"version": "1.0.0", "url": URL, "sha256": 12},
                          "'sha256' must be 64 hex characters"),
    "timestamp wrong type": ({"version": "1.0.0", "url": URL, "published_at": 1700000000},
                             "'published_at' must be an ISO 8601 timestamp string"),
    "camel and snake disagree": ({"version": "1.0.0", "url": URL, "sizeBytes": 1, "size": 2},
                                 "both 'sizeBytes' and 'size' are set, differently"),
    "version missing": ({"url": URL}, "'version' must be a version"),
    "notes not text": ({"version": "1.0.0", "url": URL, "notes": ["a"]},
                       "'notes' must be a string"),
}


@pytest.mark.parametrize(("document", "expected_log"), META_CASES.values(), ids=META_CASES.keys())
def test_bad_meta_file_is_503_with_a_log_line(downloads_app, caplog, tmp_path, document,
                                              expected_log):
    meta = tmp_path / "meta.json"
    if isinstance(document, str):
        meta.write_text(document, encoding="utf-8")
    else:
        write_meta(meta, document)

    assert_not_configured(downloads_app(meta_path=str(meta)), caplog, expected_log)


def test_missing_meta_file_is_503_even_when_variables_are_set(downloads_app, caplog, tmp_path):
    app = downloads_app(meta_path=str(tmp_path / "nope.json"), url=URL, version="1.0.0")

    assert_not_configured(app, caplog, f"meta file {tmp_path / 'nope.json'}")


def test_meta_file_naming_a_missing_installer_is_503(downloads_app, caplog, tmp_path):
    meta = write_meta(tmp_path / "meta.json", {"version": "1.0.0", "file": "missing.exe"})

    assert_not_configured(downloads_app(meta_path=str(meta)), caplog, "missing.exe")


def test_missing_s3_meta_object_is_503(downloads_app, caplog, s3_bucket):
    app = downloads_app(meta_path=f"s3://{s3_bucket}/nothing/meta.json")

    assert_not_configured(app, caplog, f"s3://{s3_bucket}/nothing/meta.json does not exist")


def test_missing_s3_installer_object_is_503(downloads_app, caplog, tmp_path, s3_bucket):
    meta = write_meta(tmp_path / "meta.json",
                      {"version": "1.0.0", "s3": {"bucket": s3_bucket, "key": "no/Setup.exe"}})

    assert_not_configured(downloads_app(meta_path=str(meta)), caplog,
                          f"installer s3://{s3_bucket}/no/Setup.exe does not exist")


def test_s3_object_whose_recorded_sha256_differs_from_the_meta_is_503(
        downloads_app, caplog, tmp_path, s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key="Setup.exe", Body=b"MZ",
                         Metadata={"sha256": "1" * 64})
    meta = write_meta(tmp_path / "meta.json", {"version": "1.0.0", "sha256": "2" * 64,
                                               "s3": {"bucket": s3_bucket, "key": "Setup.exe"}})

    assert_not_configured(downloads_app(meta_path=str(meta)), caplog, "does not match the object")


def test_s3_object_whose_size_differs_from_the_meta_is_503(downloads_app, caplog, tmp_path,
                                                          s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key="Setup.exe", Body=b"MZ")
    meta = write_meta(tmp_path / "meta.json", {"version": "1.0.0", "size": 3,
                                               "s3": {"bucket": s3_bucket, "key": "Setup.exe"}})

    assert_not_configured(downloads_app(meta_path=str(meta)), caplog,
                          "configured size 3 (meta file")


def test_nothing_configured_is_a_warning_and_a_misconfiguration_an_error(downloads_app, caplog):
    downloads_app()
    downloads_app(url=URL, version="one")

    levels = [record.levelname for record in caplog.records if record.name == LOGGER]
    assert levels == ["WARNING", "ERROR"]


def test_a_problem_is_logged_at_start_up(downloads_app, caplog):
    downloads_app(url=URL, version="one")

    assert any("IBKR_CONNECTOR_WINDOWS_VERSION must be a version" in record.getMessage()
               for record in caplog.records if record.name == LOGGER)


def test_a_repeated_problem_is_logged_once_not_per_request(downloads_app, caplog):
    app = downloads_app(url=URL, version="one")
    client = app.test_client()
    for _ in range(5):
        assert client.get(API).status_code == 503

    assert len([record for record in caplog.records if record.name == LOGGER
                and record.levelno == logging.ERROR]) == 1


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("presign_ttl_s", "soon", "IBKR_CONNECTOR_WINDOWS_PRESIGN_TTL_S: must be a whole number"),
    ("presign_ttl_s", "0", "IBKR_CONNECTOR_WINDOWS_PRESIGN_TTL_S: must be a whole number from 1"),
    ("presign_ttl_s", "604801", "IBKR_CONNECTOR_WINDOWS_PRESIGN_TTL_S: .* to 604800, got"),
    ("refresh_s", "often", "IBKR_CONNECTOR_WINDOWS_REFRESH_S: must be a number of seconds"),
    ("refresh_s", "-1", "IBKR_CONNECTOR_WINDOWS_REFRESH_S: must be a number of seconds from 0"),
])
def test_bad_endpoint_settings_stop_the_server_at_start_up(downloads_app, name, value, expected):
    with pytest.raises(ValueError, match=expected):
        downloads_app(url=URL, version="1.0.0", **{name: value})


def test_the_503_answer_does_not_leak_the_configuration(downloads_app, tmp_path):
    app = downloads_app(file=str(tmp_path / "secret-folder" / "Setup.exe"), version="1.0.0")

    body = json.dumps(app.test_client().get(API).json)

    assert "secret-folder" not in body
