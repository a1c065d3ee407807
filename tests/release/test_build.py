"""`veracity-release build`: a real PyInstaller onedir build from installer/windows/'s spec.

Slow (about 40 s on a 2-core machine): it freezes the connector, then runs the built binary
like a user would — `--version`, and `doctor` against the gateway simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from veracity_release.build import CLI_EXE_NAME, TRAY_EXE_NAME, executable_name
from veracity_release.versioning import project_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_app(tmp_path_factory) -> Path:
    """Build once for the module; the build time is printed for the release notes."""
    out = tmp_path_factory.mktemp("build")
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "veracity_release", "build", "--dist", str(out / "dist"),
         "--work", str(out / "work")], capture_output=True, text=True, timeout=900,
        check=False)
    print(f"\nPyInstaller build took {time.monotonic() - started:.1f} s")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "[3/3] smoke test" in completed.stdout
    return out / "dist" / "ibkr-connector"


def run_built(app_dir: Path, *arguments: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(app_dir / executable_name(CLI_EXE_NAME)), *arguments],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})


def test_the_build_is_one_folder_with_the_tray_and_cli_executables(built_app):
    for stem in (TRAY_EXE_NAME, CLI_EXE_NAME):
        assert os.access(built_app / executable_name(stem), os.X_OK), stem
    assert (built_app / "_internal").is_dir()
    # Nothing of the server, simulator or release tooling is shipped to users.
    bundled = {path.name for path in (built_app / "_internal").iterdir()}
    assert not {"veracity_server", "ibkr_gateway_sim", "veracity_release", "moto", "flask",
                "sqlalchemy", "boto3"} & bundled


def test_the_built_binary_answers_version(built_app):
    completed = run_built(built_app, "--version")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"ibkr-connector {project_version()}"


def test_the_built_binary_runs_doctor_against_a_gateway(built_app, gateway_sim, tmp_path):
    gateway_sim.control.login()
    env = {"IBKR_CONNECTOR_HOME": str(tmp_path / "home"), "IBKR_CONNECTOR_KEY_STORE": "file",
           "IBKR_GATEWAY_URL": gateway_sim.base_url, "VERACITY_URL": "http://127.0.0.1:9"}

    completed = run_built(built_app, "doctor", env=env)

    output = completed.stdout + completed.stderr
    assert "Traceback" not in output
    assert "[OK  ] settings" in output
    assert "[OK  ] gateway port" in output
    assert "[OK  ] gateway session: reachable and logged in" in output
    assert "[FAIL] veracity" in output  # nothing listens on port 9: doctor must say so
    assert completed.returncode == 1
