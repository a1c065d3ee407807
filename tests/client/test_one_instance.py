"""One connector per data folder: a second `run` (or tray + run) refuses, `status` tells a
killed process from a live one. Real `ibkr-connector run` processes; the lock is the OS's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ManagedProcess, free_port
from veracity_connector.cli import ExitCode
from veracity_connector.instance_lock import (
    ConnectorAlreadyRunning,
    InstanceLock,
    read_owner,
    running_instance,
)
from veracity_connector.settings import Folders


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(("VERACITY_", "IBKR_"))}
    base.update({"IBKR_CONNECTOR_HOME": str(tmp_path / "connector"),
                 "IBKR_CONNECTOR_KEY_STORE": "file",
                 "VERACITY_URL": f"http://127.0.0.1:{free_port()}",
                 "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}"})
    return base


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veracity_connector", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def data_dir(env: dict[str, str]) -> Path:
    return Path(env["IBKR_CONNECTOR_HOME"]) / "data"


@pytest.fixture
def first_run(env: dict[str, str], tmp_path: Path) -> Iterator[ManagedProcess]:
    """`ibkr-connector run`, ready once it holds the lock and wrote its status file."""
    run = ManagedProcess([sys.executable, "-m", "veracity_connector", "run"], env=env,
                         log_path=tmp_path / "first-run.log", name="first run",
                         ready_check=lambda: (data_dir(env) / "status.json").exists()
                         and running_instance(data_dir(env)))
    run.start()
    try:
        yield run
    finally:
        run.stop()


def test_a_second_run_exits_naming_the_first(env, first_run):
    assert first_run.process is not None
    result = cli(env, "run")
    assert result.returncode == ExitCode.ALREADY_RUNNING
    assert f"already running (pid {first_run.process.pid}, started " in result.stdout
    assert first_run.process.poll() is None  # the first one runs on


def test_status_shows_the_running_process(env, first_run):
    assert first_run.process is not None
    report = json.loads(cli(env, "status", "--json").stdout)
    assert report["engine_running"] is True and report["engine_pid"] == first_run.process.pid
    assert report["engine_started_at"]
    text = cli(env, "status").stdout
    assert f"running (pid {first_run.process.pid}, started " in text


def test_status_after_sigkill_says_not_running_and_a_new_run_starts(env, first_run, tmp_path):
    process = first_run.process
    assert process is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    # The status file still looks fresh (written seconds ago), and the owner file is left over.
    assert read_owner(data_dir(env)) is not None
    report = json.loads(cli(env, "status", "--json").stdout)
    assert report["engine_running"] is False and report["engine_died"] is True
    assert report["state"] == "needs_token"
    assert f"pid {process.pid} ended without stopping cleanly" in cli(env, "status").stdout
    # The OS dropped the lock with the process: a new connector starts at once.
    again = ManagedProcess([sys.executable, "-m", "veracity_connector", "run"], env=env,
                           log_path=tmp_path / "second-run.log", name="second run",
                           ready_check=lambda: (owner := running_instance(data_dir(env)))
                           and owner.pid != process.pid)
    again.start()
    again.stop()


def test_run_refuses_while_the_tray_holds_the_folder(env):
    folders = Folders.from_environment(env)
    with InstanceLock(folders.data_dir, "tray"):
        result = cli(env, "run")
    assert result.returncode == ExitCode.ALREADY_RUNNING
    assert f"already running (pid {os.getpid()}, started " in result.stdout


def test_the_tray_refuses_while_run_holds_the_folder(env, first_run, monkeypatch):
    from veracity_connector import tray

    folders = Folders.from_environment(env)
    assert tray._run(folders) == tray.EXIT_HEADLESS_CONNECTOR_RUNS
    # ... and it gave its own tray lock back: a later tray could start.
    assert not (folders.data_dir / "tray.instance.json").exists()


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    first = InstanceLock(tmp_path, "run")
    first.acquire()
    try:
        with pytest.raises(ConnectorAlreadyRunning, match=r"already running \(pid \d+"):
            InstanceLock(tmp_path, "tray").acquire(timeout_s=0)
        assert running_instance(tmp_path) is not None
    finally:
        first.release()
    assert running_instance(tmp_path) is None
    assert read_owner(tmp_path) is None
