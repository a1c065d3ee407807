"""`veracity-release env` and `veracity-release hash`."""

from __future__ import annotations

import hashlib
import shlex

import requests

from tests.release.fake_artifacts import PACK_ID, make_fake_release
from veracity_release.cli import main

PREFIX = "ibkr-connector/windows"


def env_values(output: str) -> dict[str, str]:
    values = {}
    for line in output.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = shlex.split(value)[0]
    return values


def comment_url(output: str) -> str:
    return next(line[2:] for line in output.splitlines() if line.startswith("# http"))


def test_env_prints_the_variables_of_the_published_release(tmp_path, s3_client, s3_bucket,
                                                            capsys):
    release = make_fake_release(tmp_path / "Releases", "1.4.0")
    assert main(["publish", "--bucket", s3_bucket, "--releases-dir", str(release.folder),
                 "--version", "1.4.0", "--allow-unsigned",
                 "--notes", "Fixes: 'quotes' & spaces"]) == 0
    capsys.readouterr()

    assert main(["env", "--bucket", s3_bucket]) == 0

    output = capsys.readouterr().out
    values = env_values(output)
    key = f"{PREFIX}/installers/1.4.0/{PACK_ID}-1.4.0-win-Setup.exe"
    assert values == {
        "IBKR_CONNECTOR_WINDOWS_URL": f"s3://{s3_bucket}/{key}",
        "IBKR_CONNECTOR_WINDOWS_VERSION": "1.4.0",
        "IBKR_CONNECTOR_WINDOWS_PUBLISHED_AT": values["IBKR_CONNECTOR_WINDOWS_PUBLISHED_AT"],
        "IBKR_CONNECTOR_WINDOWS_SHA256": release.installer_sha256,
        "IBKR_CONNECTOR_WINDOWS_SIZE": str(release.installer.stat().st_size),
        "IBKR_CONNECTOR_WINDOWS_FILENAME": f"{PACK_ID}-1.4.0-win-Setup.exe",
        "IBKR_CONNECTOR_WINDOWS_NOTES": "Fixes: 'quotes' & spaces",
        "IBKR_CONNECTOR_WINDOWS_FEED": f"s3://{s3_bucket}/{PREFIX}/feed/",
    }
    download = requests.get(comment_url(output), timeout=10)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == release.installer_sha256
    assert f"{PACK_ID}-1.4.0-win-Setup.exe" in download.headers["Content-Disposition"]


def test_env_presigned_puts_an_expiring_url_in_the_variable(tmp_path, s3_client, s3_bucket,
                                                           capsys):
    release = make_fake_release(tmp_path / "Releases", "1.4.0")
    assert main(["publish", "--bucket", s3_bucket, "--releases-dir", str(release.folder),
                 "--version", "1.4.0", "--allow-unsigned"]) == 0
    capsys.readouterr()

    assert main(["env", "--bucket", s3_bucket, "--presigned", "--expires-in", "600"]) == 0

    output = capsys.readouterr().out
    assert output.startswith("# WARNING: this URL expires at")
    url = env_values(output)["IBKR_CONNECTOR_WINDOWS_URL"]
    assert "Expires=600" in url or "X-Amz-Expires=600" in url
    assert hashlib.sha256(requests.get(url, timeout=10).content).hexdigest() == \
        release.installer_sha256


def test_env_without_a_published_release_says_so(s3_bucket, capsys):
    assert main(["env", "--bucket", s3_bucket]) == 1

    assert "no published release" in capsys.readouterr().err


def test_env_refuses_an_impossible_lifetime(s3_bucket, capsys):
    assert main(["env", "--bucket", s3_bucket, "--presigned", "--expires-in", "999999"]) == 1

    assert "--expires-in must be between" in capsys.readouterr().err


def test_hash_prints_sha256sum_lines(tmp_path, capsys):
    first, second = tmp_path / "a.exe", tmp_path / "b.nupkg"
    first.write_bytes(b"first")
    second.write_bytes(b"")

    assert main(["hash", str(first), str(second)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"{hashlib.sha256(b'first').hexdigest()}  {first}",
        f"{hashlib.sha256(b'').hexdigest()}  {second}",
    ]


def test_hash_of_a_missing_file_is_an_error(tmp_path, capsys):
    assert main(["hash", str(tmp_path / "missing.exe")]) == 1

    assert "file not found" in capsys.readouterr().err
