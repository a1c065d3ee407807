"""Authenticode: sign the connector's executables and installer, verify, tell signed from not.

Windows (SmartScreen, Defender, the user's "unknown publisher" prompt) judges a download by its
Authenticode signature. The certificate never lives in the repository: a maintainer provides a
PKCS#12 file and its password through the environment (or a secret store that sets it):

    VERACITY_SIGN_PFX_FILE            path of the .pfx/.p12 (certificate + private key)
    VERACITY_SIGN_PFX_PASSWORD_FILE   a file holding its password (preferred: not in `ps` or logs)
    VERACITY_SIGN_PFX_PASSWORD        or the password itself
    VERACITY_SIGN_TIMESTAMP_URL       RFC 3161 timestamp server, so signatures outlive the cert

On Windows `signtool` signs; elsewhere Debian's `osslsigncode` does the same to a PE file.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from veracity_release.errors import ReleaseError

SIGNED_DESCRIPTION = "Veracity IBKR Connector"
SIGNED_URL = "https://veracity.example/ibkr"
# PE/COFF: the optional header's data directory entry 4 is the certificate table.
_CERTIFICATE_TABLE_INDEX = 4
_OPTIONAL_HEADER_DIRECTORIES_AT = {0x10B: 96, 0x20B: 112}  # PE32, PE32+


class SigningSettings(BaseSettings):
    """Where the code-signing certificate is; read once, from the environment."""

    model_config = SettingsConfigDict(env_prefix="VERACITY_SIGN_", extra="ignore")

    pfx_file: Path | None = Field(default=None, description="PKCS#12 certificate file")
    pfx_password: str | None = Field(default=None, description="its password")
    pfx_password_file: Path | None = Field(default=None, description="a file with its password")
    timestamp_url: str | None = Field(default=None, description="RFC 3161 timestamp server")

    @model_validator(mode="after")
    def _usable(self) -> SigningSettings:
        if self.pfx_file is not None and not self.pfx_file.is_file():
            raise ValueError(f"VERACITY_SIGN_PFX_FILE: {self.pfx_file} is not a file")
        if self.pfx_password is not None and self.pfx_password_file is not None:
            raise ValueError("set VERACITY_SIGN_PFX_PASSWORD or VERACITY_SIGN_PFX_PASSWORD_FILE, "
                             "not both")
        if self.pfx_password_file is not None and not self.pfx_password_file.is_file():
            raise ValueError(f"VERACITY_SIGN_PFX_PASSWORD_FILE: {self.pfx_password_file} is not "
                             "a file")
        return self

    @property
    def configured(self) -> bool:
        """True when a certificate is set up."""
        return self.pfx_file is not None

    def password(self) -> str:
        """The certificate's password ('' for a certificate without one)."""
        if self.pfx_password_file is not None:
            return self.pfx_password_file.read_text(encoding="utf-8").strip()
        return self.pfx_password or ""


def load_signing_settings() -> SigningSettings:
    """The signing settings from the environment; a clear ReleaseError when they are wrong."""
    try:
        return SigningSettings()
    except ValidationError as error:
        problems = "; ".join(str(item["msg"]).removeprefix("Value error, ")
                             for item in error.errors())
        raise ReleaseError(f"code signing settings: {problems}") from None


def has_authenticode_signature(path: Path) -> bool:
    """True when the PE file carries a certificate table (an Authenticode signature)."""
    try:
        with path.open("rb") as file:
            header = file.read(4096)
    except OSError as error:
        raise ReleaseError(f"cannot read {path}: {error}") from error
    if header[:2] != b"MZ" or len(header) < 0x40:
        return False
    pe_offset = struct.unpack_from("<I", header, 0x3C)[0]
    optional_header = pe_offset + 24
    if header[pe_offset:pe_offset + 4] != b"PE\0\0" or optional_header + 2 > len(header):
        return False
    magic = struct.unpack_from("<H", header, optional_header)[0]
    directories = _OPTIONAL_HEADER_DIRECTORIES_AT.get(magic)
    if directories is None:
        return False
    entry = optional_header + directories + 8 * _CERTIFICATE_TABLE_INDEX
    if entry + 8 > len(header):
        return False
    address, size = struct.unpack_from("<II", header, entry)
    return address != 0 and size != 0


def sign_file(path: Path, settings: SigningSettings, report: Callable[[str], None]) -> None:
    """Sign the PE file in place with the configured certificate, then verify it."""
    if not settings.configured or settings.pfx_file is None:
        raise ReleaseError("no code signing certificate: set VERACITY_SIGN_PFX_FILE (and its "
                           "password) — see docs/release.md, 'Signing'")
    if not path.is_file():
        raise ReleaseError(f"cannot sign {path}: no such file")
    report(f"      sign {path.name}" + (f" (timestamp {settings.timestamp_url})"
                                        if settings.timestamp_url else " (no timestamp)"))
    if sys.platform == "win32":
        _sign_with_signtool(path, settings)
    else:
        _sign_with_osslsigncode(path, settings)
    if not has_authenticode_signature(path):
        raise ReleaseError(f"{path} has no signature after signing")


def verify_file(path: Path, ca_file: Path | None = None) -> str:
    """Check the file's Authenticode signature; return the tool's report, raise when invalid."""
    if not has_authenticode_signature(path):
        raise ReleaseError(f"{path} is not signed")
    if sys.platform == "win32":
        command = [_tool("signtool"), "verify", "/pa", str(path)]
    else:
        command = [_tool("osslsigncode"), "verify", "-in", str(path)]
        if ca_file is not None:
            command += ["-CAfile", str(ca_file)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120,
                               check=False)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise ReleaseError(f"the signature of {path} does not verify:\n{output[-3000:]}")
    return output


def _sign_with_osslsigncode(path: Path, settings: SigningSettings) -> None:
    assert settings.pfx_file is not None
    with tempfile.TemporaryDirectory(prefix="veracity-sign-") as scratch:
        # The password goes through a private file, never the command line (`ps` shows that).
        password_file = Path(scratch) / "password"
        password_file.touch(mode=0o600)
        password_file.write_text(settings.password(), encoding="utf-8")
        signed = Path(scratch) / path.name
        command = [_tool("osslsigncode"), "sign", "-pkcs12", str(settings.pfx_file),
                   "-readpass", str(password_file), "-h", "sha256",
                   "-n", SIGNED_DESCRIPTION, "-i", SIGNED_URL, "-in", str(path),
                   "-out", str(signed)]
        if settings.timestamp_url:
            command += ["-ts", settings.timestamp_url]
        _run(command, path)
        shutil.copyfile(signed, path)


def _sign_with_signtool(path: Path, settings: SigningSettings) -> None:
    assert settings.pfx_file is not None
    command = [_tool("signtool"), "sign", "/fd", "sha256", "/f", str(settings.pfx_file),
               "/p", settings.password(), "/d", SIGNED_DESCRIPTION, "/du", SIGNED_URL]
    if settings.timestamp_url:
        command += ["/tr", settings.timestamp_url, "/td", "sha256"]
    _run([*command, str(path)], path)


def _run(command: list[str], path: Path) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300,
                               check=False)
    if completed.returncode != 0:
        tool = Path(command[0]).name
        raise ReleaseError(f"{tool} could not sign {path} (exit {completed.returncode}):\n"
                           f"{(completed.stdout + completed.stderr)[-3000:]}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        hint = ("the Windows SDK's signtool" if name == "signtool"
                else "Debian's osslsigncode (apt-get install osslsigncode)")
        raise ReleaseError(f"{name} not found on PATH: install {hint}")
    return found
