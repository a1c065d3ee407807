"""Authenticode: `sign` and `verify` with a throwaway certificate, and the publish gate.

The certificate is made here with openssl and thrown away; the PE file is a real Windows
executable (the console launcher pip vendors from distlib), so osslsigncode signs and verifies
it exactly as it would the connector's exe or installer.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pip._vendor import distlib

from tests.release.fake_artifacts import make_fake_release
from tests.release.s3_fixtures import bucket_snapshot
from veracity_release.cli import main
from veracity_release.signing import has_authenticode_signature

PASSWORD = "throwaway-Passw0rd"
WINDOWS_EXECUTABLE = Path(distlib.__file__).parent / "t64.exe"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed code-signing certificate: its PKCS#12 file, password file and PEM."""
    folder = tmp_path_factory.mktemp("certificate")
    key, pem, pfx = folder / "key.pem", folder / "cert.pem", folder / "cert.pfx"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=Veracity Test Signing", "-addext",
                    "extendedKeyUsage=codeSigning", "-keyout", key, "-out", pem],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", key, "-in", pem, "-out", pfx,
                    "-passout", f"pass:{PASSWORD}"], check=True, capture_output=True)
    password_file = folder / "password"
    password_file.write_text(PASSWORD + "\n")
    return {"pfx": pfx, "password_file": password_file, "pem": pem}


@pytest.fixture
def signing_environment(certificate: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VERACITY_SIGN_PFX_PASSWORD", "VERACITY_SIGN_TIMESTAMP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VERACITY_SIGN_PFX_FILE", str(certificate["pfx"]))
    monkeypatch.setenv("VERACITY_SIGN_PFX_PASSWORD_FILE", str(certificate["password_file"]))


@pytest.fixture
def executable(tmp_path: Path) -> Path:
    copy = tmp_path / "Veracity Setup" / "ibkr-connector-cli.exe"
    copy.parent.mkdir()
    shutil.copyfile(WINDOWS_EXECUTABLE, copy)
    return copy


def osslsigncode_verify(path: Path, ca_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["osslsigncode", "verify", "-in", str(path), "-CAfile", str(ca_file)],
                          capture_output=True, text=True, check=False)


@pytest.mark.usefixtures("signing_environment")
def test_sign_makes_a_signature_that_osslsigncode_verifies(executable: Path,
                                                            certificate: dict[str, Path],
                                                            capsys: Any) -> None:
    assert not has_authenticode_signature(executable)
    assert osslsigncode_verify(executable, certificate["pem"]).returncode != 0

    assert main(["sign", str(executable)]) == 0

    assert has_authenticode_signature(executable)
    checked = osslsigncode_verify(executable, certificate["pem"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Veracity Test Signing" in checked.stdout
    assert main(["verify", str(executable), "--ca-file", str(certificate["pem"])]) == 0
    assert PASSWORD not in capsys.readouterr().out


@pytest.mark.usefixtures("signing_environment")
def test_a_file_changed_after_signing_no_longer_verifies(executable: Path,
                                                         certificate: dict[str, Path]) -> None:
    assert main(["sign", str(executable)]) == 0
    content = bytearray(executable.read_bytes())
    content[0x400] ^= 0xFF  # inside the code, covered by the signature's digest
    executable.write_bytes(bytes(content))

    assert main(["verify", str(executable), "--ca-file", str(certificate["pem"])]) == 1


def test_a_wrong_password_fails_clearly_and_leaves_the_file_alone(
        executable: Path, certificate: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: Any) -> None:
    monkeypatch.delenv("VERACITY_SIGN_PFX_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("VERACITY_SIGN_PFX_FILE", str(certificate["pfx"]))
    monkeypatch.setenv("VERACITY_SIGN_PFX_PASSWORD", "not-the-password")
    before = executable.read_bytes()

    assert main(["sign", str(executable)]) == 1

    assert "could not sign" in capsys.readouterr().err
    assert executable.read_bytes() == before


def test_without_a_certificate_sign_says_what_to_set(executable: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: Any) -> None:
    monkeypatch.delenv("VERACITY_SIGN_PFX_FILE", raising=False)
    assert main(["sign", str(executable)]) == 1
    assert "VERACITY_SIGN_PFX_FILE" in capsys.readouterr().err


def test_a_certificate_path_that_is_not_a_file_is_named(executable: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: Any) -> None:
    monkeypatch.setenv("VERACITY_SIGN_PFX_FILE", str(tmp_path / "missing.pfx"))
    assert main(["sign", str(executable)]) == 1
    error = capsys.readouterr().err
    assert "VERACITY_SIGN_PFX_FILE" in error and "missing.pfx" in error


def test_files_that_are_not_signed_pe_files_count_as_unsigned(tmp_path: Path) -> None:
    random_bytes = tmp_path / "fake.exe"
    random_bytes.write_bytes(b"MZ" + bytes(range(256)) * 40)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not has_authenticode_signature(random_bytes)
    assert not has_authenticode_signature(text)
    assert not has_authenticode_signature(WINDOWS_EXECUTABLE)


def _release_with_installer(folder: Path, installer_source: Path | None) -> Path:
    release = make_fake_release(folder, "2.0.0")
    if installer_source is not None:
        shutil.copyfile(installer_source, release.installer)
    return release.folder


def test_publish_refuses_an_unsigned_installer_by_default(tmp_path: Path, s3_client: Any,
                                                          s3_bucket: str, capsys: Any) -> None:
    releases = _release_with_installer(tmp_path / "Releases", WINDOWS_EXECUTABLE)
    before = bucket_snapshot(s3_client, s3_bucket)

    assert main(["publish", "--bucket", s3_bucket, "--releases-dir", str(releases),
                 "--version", "2.0.0"]) == 1

    error = capsys.readouterr().err
    assert "not signed" in error and "--allow-unsigned" in error
    assert bucket_snapshot(s3_client, s3_bucket) == before


def test_publish_with_allow_unsigned_goes_ahead_and_says_so_loudly(
        tmp_path: Path, s3_client: Any, s3_bucket: str, capsys: Any) -> None:
    releases = _release_with_installer(tmp_path / "Releases", WINDOWS_EXECUTABLE)

    assert main(["publish", "--bucket", s3_bucket, "--releases-dir", str(releases),
                 "--version", "2.0.0", "--allow-unsigned"]) == 0

    assert "PUBLISHING AN UNSIGNED INSTALLER" in capsys.readouterr().err


@pytest.mark.usefixtures("signing_environment")
def test_publish_takes_a_signed_installer_without_any_flag(tmp_path: Path, s3_client: Any,
                                                           s3_bucket: str,
                                                           executable: Path,
                                                           capsys: Any) -> None:
    assert main(["sign", str(executable)]) == 0
    releases = _release_with_installer(tmp_path / "Releases", executable)

    assert main(["publish", "--bucket", s3_bucket, "--releases-dir", str(releases),
                 "--version", "2.0.0"]) == 0

    assert "UNSIGNED" not in capsys.readouterr().err
