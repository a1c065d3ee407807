"""The Windows release workflow: valid for GitHub, and in step with the release tooling."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from veracity_release.cli import command_options
from veracity_release.versioning import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "windows-release.yml"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_workflow_matches_githubs_schema():
    completed = validate(WORKFLOW)

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_schema_check_does_reject_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "runs_on:"),
                      encoding="utf-8")

    assert validate(broken).returncode != 0


def test_vpk_version_matches_the_pinned_velopack_library():
    pyproject = tomllib.loads((REPO_ROOT / "client" / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [item for item in pyproject["project"]["dependencies"]
            if item.startswith("velopack==")]
    match = re.search(r'VPK_VERSION: "([^"]+)"', WORKFLOW.read_text(encoding="utf-8"))

    assert match, "VPK_VERSION missing from the workflow"
    assert pins == [f"velopack=={match.group(1)}"]


def test_every_release_command_in_the_workflow_parses():
    text = WORKFLOW.read_text(encoding="utf-8")
    subcommands = re.findall(r'\$arguments = @\("(\w+)"', text)
    # Options given to veracity-release (the installer's own `--silent` is Velopack's).
    release_lines = "\n".join(line for line in text.splitlines() if "$arguments" in line)
    options = set(re.findall(r'"(--[a-z-]+)"', release_lines))
    known = set().union(*command_options().values())

    assert set(subcommands) == {"package", "publish"}
    assert options <= known, options - known
    direct = set(re.findall(r"veracity-release (\w+)", text))
    assert direct <= set(command_options()), direct - set(command_options())
    assert {"build", "sign", "verify", "hash"} <= direct


def test_the_windows_job_installs_the_package_and_runs_the_installed_connector():
    text = WORKFLOW.read_text(encoding="utf-8")
    install = text[text.index("install silently and run the installed connector"):]
    assert '"--silent"' in install
    assert "--version" in install and " doctor" in install
