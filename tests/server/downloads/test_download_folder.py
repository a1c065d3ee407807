"""A meta JSON's file reference resolves only inside the download folder (absolute paths, `..`
and symlinks leading out are refused when the metadata is loaded: 503 and a log line, never the
file), and absolute links come from VERACITY_PUBLIC_URL, never from the Host header."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

from tests.server.downloads.helpers import API, write_installer, write_meta
from tests.support.server_fixtures import start_live_server
from veracity_server.app import create_app
from veracity_server.downloads.metadata import NotConfigured, metadata_from_document

LOGGER = "veracity_server.downloads"
SECRET = b"root:x:0:0:the secret the server must never serve\n"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(download folder holding the meta JSON and a real installer, a secret file outside it)."""
    downloads = tmp_path / "downloads"
    write_installer(downloads / "Setup-1.2.0.exe", size=1000)
    outside = tmp_path / "private" / "secret.txt"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    return downloads, outside


def _meta(folder: Path, file: str, **extra: str) -> str:
    return str(write_meta(folder / "meta.json", {"version": "1.2.0", "file": file, **extra}))


def _assert_refused(app, caplog, says: str) -> None:
    client = app.test_client()
    for path in (API, f"{API}/installer"):
        response = client.get(path)
        assert response.status_code == 503, (path, response.data[:200])
        assert response.json["error"]["code"] == "not_configured"
        assert SECRET not in response.data
    lines = [record.getMessage() for record in caplog.records
             if record.name == LOGGER and record.levelno >= logging.ERROR]
    assert any(says in line for line in lines), lines


@pytest.mark.parametrize(("reference", "says"), [
    ("{outside}", "is an absolute path"),
    ("../private/secret.txt", "with '..'"),
    ("sub/../../private/secret.txt", "with '..'"),
    ("C:\\Windows\\win.ini", "is an absolute path"),
])
def test_a_file_outside_the_folder_is_refused(downloads_app, caplog, folders, reference,
                                              says) -> None:
    downloads, outside = folders
    app = downloads_app(meta_path=_meta(downloads, reference.format(outside=outside)))
    _assert_refused(app, caplog, says)


def test_a_symlink_leading_out_is_refused(downloads_app, caplog, folders) -> None:
    downloads, outside = folders
    (downloads / "Setup-1.2.0-link.exe").symlink_to(outside)
    app = downloads_app(meta_path=_meta(downloads, "Setup-1.2.0-link.exe"))
    _assert_refused(app, caplog, "leads out of the download folder")


def test_a_symlinked_folder_leading_out_is_refused(downloads_app, caplog, folders) -> None:
    downloads, outside = folders
    (downloads / "releases").symlink_to(outside.parent, target_is_directory=True)
    app = downloads_app(meta_path=_meta(downloads, "releases/secret.txt"))
    _assert_refused(app, caplog, "leads out of the download folder")


def test_a_feed_outside_the_folder_is_refused(downloads_app, caplog, folders) -> None:
    downloads, _ = folders
    app = downloads_app(meta_path=_meta(downloads, "Setup-1.2.0.exe", feed="../private"))
    _assert_refused(app, caplog, "'feed' '../private' steps out")


def test_a_file_inside_the_folder_is_served(downloads_app, folders) -> None:
    downloads, _ = folders
    (downloads / "current.exe").symlink_to(downloads / "Setup-1.2.0.exe")  # inside: fine
    app = downloads_app(meta_path=_meta(downloads, "current.exe"))
    response = app.test_client().get(f"{API}/installer")
    assert response.status_code == 200 and response.data.startswith(b"MZ")


def test_the_configured_download_folder_is_the_root(downloads_app, caplog, tmp_path,
                                                    folders) -> None:
    downloads, _ = folders
    meta_folder = tmp_path / "meta"
    meta_folder.mkdir()
    write_installer(meta_folder / "next-to-the-meta.exe", size=100)
    # Relative to the download folder, not to the meta file's folder:
    app = downloads_app(meta_path=_meta(meta_folder, "Setup-1.2.0.exe"),
                        download_dir=str(downloads))
    assert app.test_client().get(f"{API}/installer").status_code == 200
    refused = downloads_app(meta_path=_meta(meta_folder, "../meta/next-to-the-meta.exe"),
                            download_dir=str(downloads))
    _assert_refused(refused, caplog, "with '..'")


def test_an_s3_meta_has_no_local_folder_unless_configured() -> None:
    with pytest.raises(NotConfigured, match="IBKR_CONNECTOR_WINDOWS_DOWNLOAD_DIR"):
        metadata_from_document({"version": "1.2.0", "file": "etc/passwd"}, "meta object", None)


PUBLIC = "https://veracity.example.com"


def test_download_url_comes_from_the_public_url_not_the_host_header(tmp_path: Path,
                                                                     folders) -> None:
    downloads, _ = folders
    app = create_app({"VERACITY_ENV": "development", "TESTING": True,
                      "VERACITY_INSTANCE_PATH": str(tmp_path / "instance"),
                      "VERACITY_PUBLIC_URL": PUBLIC + "/",
                      "IBKR_CONNECTOR_WINDOWS_META_PATH": _meta(downloads, "Setup-1.2.0.exe")})
    for host in ("evil.example", "veracity.example.com.evil.example", "127.0.0.1:1"):
        answer = app.test_client().get(API, headers={"Host": host})
        assert answer.json["download_url"] == f"{PUBLIC}{API}/installer"


def test_a_forged_host_reaches_no_link_on_a_live_server(tmp_path: Path, folders) -> None:
    downloads, _ = folders
    env = {"VERACITY_PUBLIC_URL": PUBLIC, "VERACITY_TRUSTED_PROXIES": "1",
           "IBKR_CONNECTOR_WINDOWS_META_PATH": _meta(downloads, "Setup-1.2.0.exe")}
    with start_live_server(tmp_path, env=env) as server:
        for headers in ({"Host": "evil.example"},
                        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}):
            answer = requests.get(server.url(API), headers=headers, timeout=10)
            assert answer.status_code == 200
            assert answer.json()["download_url"] == f"{PUBLIC}{API}/installer"
