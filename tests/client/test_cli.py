"""The CLI as a subprocess: answers, exit codes, and nothing secret printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port
from tests.support.waiting import wait_until
from veracity_connector.cli import ExitCode

KEY = "vck_" + "s" * 43


@pytest.fixture
def cli(tmp_path: Path):
    home = tmp_path / "connector"
    base_env = {key: value for key, value in os.environ.items()
                if not key.startswith(("VERACITY_", "IBKR_"))}
    base_env.update({"IBKR_CONNECTOR_HOME": str(home), "IBKR_CONNECTOR_KEY_STORE": "file",
                     "VERACITY_URL": f"http://127.0.0.1:{free_port()}",
                     "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}"})

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
        return subprocess.run([sys.executable, "-m", "veracity_connector", *args],
                              env={**base_env, **(env or {})}, input=stdin,
                              capture_output=True, text=True, timeout=120)

    run.home = home  # type: ignore[attr-defined]
    return run


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("ibkr-connector ")


def test_bad_settings_exit_3_naming_the_variable(cli):
    result = cli("status", env={"IBKR_CONNECTOR_TICKLE_INTERVAL_S": "often",
                                "VERACITY_URL": "http://veracity.example.com"})
    assert result.returncode == ExitCode.CONFIGURATION
    assert "IBKR_CONNECTOR_TICKLE_INTERVAL_S: must be a number" in result.stdout
    assert "must use https" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_sync_without_once_is_a_usage_error(cli):
    assert cli("sync").returncode == ExitCode.USAGE


def test_status_when_unpaired_and_not_running(cli):
    result = cli("status", "--json")
    report = json.loads(result.stdout)
    assert report["state"] == "needs_token" and report["engine_running"] is False
    text = cli("status").stdout
    assert "needs_token" in text and "Profile → IBKR Integration" in text


def test_unpair_deletes_the_key_without_printing_it(cli):
    key_file = cli.home / "data" / "connector-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(KEY)
    status = cli("status")
    assert "not_running" in status.stdout and KEY not in status.stdout
    result = cli("unpair")
    assert result.returncode == 0 and "Unpaired" in result.stdout
    assert KEY not in result.stdout + result.stderr
    assert not key_file.exists()
    assert "no key to delete" in cli("unpair").stdout


def test_pair_needs_a_veracity_url(cli):
    result = cli("pair", "vct_" + "a" * 32, env={"VERACITY_URL": ""})
    assert result.returncode == ExitCode.CONFIGURATION and "--veracity-url" in result.stdout


def test_pair_with_unreachable_veracity_says_to_repeat_with_the_same_token(cli):
    result = cli("pair", "-", stdin="vct_" + "a" * 32 + "\n")
    assert result.returncode == ExitCode.VERACITY_UNREACHABLE
    # Never "the token is still valid": a lost answer may have spent it.
    assert "still valid" not in result.stdout
    assert "pair again with the same token" in result.stdout


def test_sync_once_exit_codes_for_unpaired_and_unreachable_gateway(cli):
    assert cli("sync", "--once").returncode == ExitCode.NOT_PAIRED
    key_file = cli.home / "data" / "connector-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(KEY)
    result = cli("sync", "--once")
    assert result.returncode == ExitCode.GATEWAY_UNREACHABLE, result.stdout
    assert "start the IBKR gateway" in result.stdout


def test_sync_once_against_a_logged_out_gateway(cli, simulator):
    key_file = cli.home / "data" / "connector-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(KEY)
    result = cli("sync", "--once", env={"IBKR_GATEWAY_URL": simulator.base_url})
    assert result.returncode == ExitCode.GATEWAY_UNAUTHENTICATED, result.stdout
    assert "log in" in result.stdout


def test_doctor_reports_each_problem_with_a_fix(cli, tmp_path):
    result = cli("doctor", env={"IBKR_GATEWAY_DIR": str(tmp_path / "nowhere")})
    assert result.returncode == ExitCode.FAILED
    out = result.stdout
    assert "[FAIL] key: not paired" in out
    assert "[FAIL] gateway folder:" in out and "is not a folder" in out
    assert "[FAIL] gateway port: nothing listens" in out
    assert "[FAIL] veracity:" in out
    assert out.count("fix:") >= 4


def test_doctor_checks_the_gateway_folder_and_port_match(cli, simulator, tmp_path):
    from ibkr_gateway_sim.gateway_folder import make_fake_gateway

    folder = tmp_path / "gateway"
    make_fake_gateway(folder, port=simulator.server.port + 1)
    simulator.control.login()
    result = cli("doctor", env={"IBKR_GATEWAY_DIR": str(folder),
                                "IBKR_GATEWAY_URL": simulator.base_url})
    out = result.stdout
    assert "[OK  ] gateway folder:" in out
    assert f"listenPort {simulator.server.port + 1}" in out  # conf.yaml and settings differ
    assert "[OK  ] gateway session: reachable and logged in" in out


def test_run_without_a_veracity_url_fails_fast(cli):
    result = cli("run", env={"VERACITY_URL": ""})
    assert result.returncode == ExitCode.CONFIGURATION and "VERACITY_URL" in result.stdout


def test_run_stops_cleanly_on_sigterm_and_status_says_so(cli):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VERACITY_", "IBKR_"))}
    env.update({"IBKR_CONNECTOR_HOME": str(cli.home), "IBKR_CONNECTOR_KEY_STORE": "file",
                "VERACITY_URL": f"http://127.0.0.1:{free_port()}",
                "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}"})
    process = subprocess.Popen([sys.executable, "-m", "veracity_connector", "run"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    status_file = cli.home / "data" / "status.json"
    wait_until(status_file.exists, 30, "the running engine's status file")
    assert json.loads(cli("status", "--json").stdout)["engine_running"] is True
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "connector stopped" in output
    report = json.loads(cli("status", "--json").stdout)
    assert report["engine_running"] is False and report["state"] == "needs_token"


def test_every_exit_code_means_one_thing() -> None:
    # An IntEnum silently makes a member with a repeated value an alias of the first one.
    values = [member.value for member in ExitCode.__members__.values()]
    assert len(values) == len(set(values)), values
