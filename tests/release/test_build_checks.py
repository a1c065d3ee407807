"""The fast checks around `build`: the version source and the smoke test of a built CLI."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from veracity_release import build
from veracity_release.cli import main
from veracity_release.errors import ReleaseError
from veracity_release.versioning import project_version


def write_pyproject(tmp_path, version: str):
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "x"\nversion = "{version}"\n', encoding="utf-8")
    return path


def fake_cli(tmp_path, output: str, exit_code: int = 0):
    """A stand-in for the built CLI that answers --version with `output`."""
    if os.name == "nt":
        script = tmp_path / "ibkr-connector-cli.cmd"
        script.write_text(f"@echo {output}\r\n@exit /b {exit_code}\r\n", encoding="utf-8")
        return script
    script = tmp_path / "ibkr-connector-cli"
    script.write_text(f"#!{sys.executable}\nimport sys\nprint({output!r})\nsys.exit({exit_code})\n",
                      encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_version_comes_from_pyproject(tmp_path):
    assert project_version(write_pyproject(tmp_path, "2.3.4-beta.1")) == "2.3.4-beta.1"


def test_a_four_part_version_in_pyproject_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match="not semver2"):
        project_version(write_pyproject(tmp_path, "2.3.4.5"))


def test_a_missing_pyproject_is_a_clear_error(tmp_path):
    with pytest.raises(ReleaseError, match=r"cannot read \[project\]\.version"):
        project_version(tmp_path / "pyproject.toml")


def test_a_built_cli_that_reports_the_version_passes(tmp_path):
    build.check_built_version(fake_cli(tmp_path, "ibkr-connector 1.4.0"), "1.4.0")


@pytest.mark.parametrize(("output", "exit_code"), [("ibkr-connector 1.3.9", 0),
                                                   ("ibkr-connector 1.4.0", 3)])
def test_a_built_cli_with_the_wrong_answer_fails_the_build(tmp_path, output, exit_code):
    with pytest.raises(ReleaseError, match=r"expected it to print 1\.4\.0"):
        build.check_built_version(fake_cli(tmp_path, output, exit_code), "1.4.0")


def test_build_refuses_stale_installed_metadata(monkeypatch, tmp_path, capsys):
    # pyproject.toml was bumped but the package was not reinstalled: the binary would lie.
    monkeypatch.setattr(build, "project_version", lambda: "9.9.9")

    assert main(["build", "--dist", str(tmp_path / "dist"), "--work", str(tmp_path / "w")]) == 1

    assert "client/pyproject.toml says 9.9.9" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()


def test_build_with_a_missing_spec_is_a_clear_error(tmp_path, capsys):
    assert main(["build", "--spec", str(tmp_path / "missing.spec"), "--dist",
                 str(tmp_path / "dist"), "--work", str(tmp_path / "w")]) == 1

    assert "PyInstaller spec not found" in capsys.readouterr().err
