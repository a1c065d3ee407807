"""`veracity-release package` around a fake `vpk` on PATH (the real one is a .NET tool).

The fake records its arguments and writes what `vpk pack` writes, so the test checks the exact
command line we hand to Velopack and everything we do with its output.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from veracity_release.cli import main

FAKE_VPK = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    from pathlib import Path
    args = sys.argv[1:]
    with open(os.environ["FAKE_VPK_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if os.environ.get("FAKE_VPK_FAIL"):
        print("vpk: signing failed", file=sys.stderr)
        sys.exit(3)
    if "[win]" in args:
        args.remove("[win]")
    if args[0] == "pack":
        options = dict(zip(args[1::2], args[2::2]))
        out = Path(options["--outputDir"])
        pack_id, version = options["--packId"], options["--packVersion"]
        (out / f"{{pack_id}}-win-Setup.exe").write_bytes(b"MZ setup")
        (out / f"{{pack_id}}-{{version}}-full.nupkg").write_bytes(b"PK full")
        assets = [{{"PackageId": pack_id, "Version": version, "Type": "Full",
                   "FileName": f"{{pack_id}}-{{version}}-full.nupkg", "Size": 7}}]
        (out / "releases.win.json").write_text(json.dumps({{"Assets": assets}}))
""")


@pytest.fixture
def fake_vpk(tmp_path, monkeypatch) -> Path:
    """Put a fake `vpk` first on PATH; returns the file where it logs its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / ("vpk.py" if os.name == "nt" else "vpk")
    script.write_text(FAKE_VPK.format(python=sys.executable), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    if os.name == "nt":  # Windows finds commands by PATHEXT, not by a shebang line
        (bin_dir / "vpk.cmd").write_text(f'@"{sys.executable}" "{script}" %*\r\n',
                                         encoding="utf-8")
    log = tmp_path / "vpk-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VPK_LOG", str(log))
    return log


@pytest.fixture
def windows_build(tmp_path) -> Path:
    """A folder shaped like the Windows onedir build."""
    build = tmp_path / "dist" / "ibkr-connector"
    build.mkdir(parents=True)
    (build / "ibkr-connector.exe").write_bytes(b"MZ")
    (build / "ibkr-connector-cli.exe").write_bytes(b"MZ")
    return build


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_package_cross_packs_with_the_win_directive(fake_vpk, windows_build, tmp_path, capsys):
    output = tmp_path / "Releases"

    assert main(["package", "--build-dir", str(windows_build), "--output", str(output),
                 "--version", "1.5.0", "--cross-pack"]) == 0

    [command] = calls(fake_vpk)
    assert command[:2] == ["[win]", "pack"]
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options["--packId"] == "VeracityIBKRConnector"
    assert options["--packVersion"] == "1.5.0"
    assert options["--packDir"] == str(windows_build)
    assert options["--mainExe"] == "ibkr-connector.exe"
    assert options["--channel"] == "win"
    assert options["--outputDir"] == str(output)
    assert Path(options["--icon"]).is_file()
    assert "--signParams" not in options
    assert (output / "VeracityIBKRConnector-win-Setup.exe").is_file()
    assert "packaged into" in capsys.readouterr().out


def test_package_on_windows_runs_plain_pack_with_signing(fake_vpk, windows_build, tmp_path):
    sign = "/fd sha256 /tr http://timestamp.example /td sha256 /f cert.pfx"

    assert main(["package", "--build-dir", str(windows_build), "--output", str(tmp_path / "out"),
                 "--version", "1.5.0", "--no-cross-pack", "--sign-params", sign]) == 0

    [command] = calls(fake_vpk)
    assert command[0] == "pack"
    assert command[command.index("--signParams") + 1] == sign


def test_delta_from_downloads_the_previous_release_first(fake_vpk, windows_build, tmp_path):
    feed = "https://veracity.example/api/v1/downloads/ibkr-connector/windows/updates"

    assert main(["package", "--build-dir", str(windows_build), "--output", str(tmp_path / "out"),
                 "--version", "1.5.0", "--no-cross-pack", "--delta-from", feed]) == 0

    download, pack = calls(fake_vpk)
    assert download == ["download", "http", "--url", feed, "--outputDir", str(tmp_path / "out")]
    assert pack[0] == "pack"


def test_package_without_vpk_says_how_to_install_it(windows_build, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    assert main(["package", "--build-dir", str(windows_build), "--version", "1.5.0"]) == 1

    assert "dotnet tool install -g vpk" in capsys.readouterr().err


def test_package_refuses_a_build_without_the_windows_exe(fake_vpk, tmp_path, capsys):
    linux_build = tmp_path / "dist" / "ibkr-connector"
    linux_build.mkdir(parents=True)
    (linux_build / "ibkr-connector").write_bytes(b"\x7fELF")

    assert main(["package", "--build-dir", str(linux_build), "--version", "1.5.0"]) == 1

    assert "needs a Windows build" in capsys.readouterr().err
    assert not fake_vpk.exists()


def test_vpk_failure_is_reported_with_its_output(fake_vpk, windows_build, tmp_path, monkeypatch,
                                                 capsys):
    monkeypatch.setenv("FAKE_VPK_FAIL", "1")

    assert main(["package", "--build-dir", str(windows_build), "--output", str(tmp_path / "o"),
                 "--version", "1.5.0"]) == 1

    error = capsys.readouterr().err
    assert "failed (exit 3)" in error
    assert "vpk: signing failed" in error


def test_package_rejects_a_four_part_version(fake_vpk, windows_build, capsys):
    assert main(["package", "--build-dir", str(windows_build), "--version", "1.5.0.0"]) == 1

    assert "not semver2" in capsys.readouterr().err


def test_package_can_sign_with_azure_trusted_signing(fake_vpk, windows_build, tmp_path):
    metadata = tmp_path / "trusted-signing.json"
    metadata.write_text("{}", encoding="utf-8")

    assert main(["package", "--build-dir", str(windows_build), "--output", str(tmp_path / "o"),
                 "--version", "1.5.0", "--azure-trusted-sign-file", str(metadata)]) == 0

    [command] = calls(fake_vpk)
    assert command[command.index("--azureTrustedSignFile") + 1] == str(metadata)


def test_package_refuses_two_signing_methods(fake_vpk, windows_build, tmp_path, capsys):
    assert main(["package", "--build-dir", str(windows_build), "--version", "1.5.0",
                 "--sign-params", "/a", "--azure-trusted-sign-file", "x.json"]) == 1

    assert "choose one way to sign" in capsys.readouterr().err
