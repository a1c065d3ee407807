"""Publish to moto's HTTP server, then a real gunicorn server (production config, two workers)
serves that release over HTTP: what a user's browser and the installed connector see."""

from __future__ import annotations

import requests

from tests.release.fake_artifacts import make_fake_release
from tests.server.downloads.helpers import API, sha256
from tests.support.server_fixtures import start_live_server
from veracity_release.cli import main as release_cli

PREFIX = "ibkr-connector/windows"


def test_gunicorn_serves_the_published_release(tmp_path, s3_bucket, aws_environment):
    release = make_fake_release(tmp_path / "Releases", "2.1.0")
    assert release_cli(["publish", "--bucket", s3_bucket, "--releases-dir", str(release.folder),
                        "--version", "2.1.0", "--notes", "Live", "--allow-unsigned"]) == 0
    env = {"IBKR_CONNECTOR_WINDOWS_META_PATH": f"s3://{s3_bucket}/{PREFIX}/meta.json"}

    with start_live_server(tmp_path / "server", env=env) as server:
        served = requests.get(server.url(API), timeout=10).json()
        download = requests.get(served["download_url"], timeout=30)  # follows the 302
        feed = requests.get(server.url(f"{API}/updates/releases.win.json"), timeout=10).json()
        package = requests.get(server.url(f"{API}/updates/{release.full_package.name}"),
                               timeout=30)

    assert (served["version"], served["notes"]) == ("2.1.0", "Live")
    assert served["download_url"] == server.url(f"{API}/installer")
    assert download.status_code == 200
    assert sha256(download.content) == served["sha256"] == release.installer_sha256
    assert len(download.content) == served["size"]
    assert [asset["FileName"] for asset in feed["Assets"]] == [release.full_package.name]
    assert package.content == release.full_package.read_bytes()
