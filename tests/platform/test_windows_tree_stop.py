"""Stopping the gateway's tree on Windows when taskkill fails, is missing or lies — run here on
real POSIX processes (a shell and the `sleep` it started stand in for cmd.exe and java.exe),
with taskkill replaced and psutil real."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.platform.fake_winreg import FakeRegistry
from tests.support.waiting import wait_until
from veracity_connector.launcher import GatewayLauncher, GatewayStopError
from veracity_connector.platform.base import ProcessTreeStopError
from veracity_connector.platform.windows import WindowsPlatform, process_tree

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX stand-ins for the tree"),
              pytest.mark.timeout(60)]


def taskkill_refusing_t(command: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
    """Wine's taskkill: no /T, exit 1, nothing killed."""
    return subprocess.CompletedProcess(
        command, 1, b"", b"Error: Unknown or invalid command line option specified.\r\n")


def taskkill_missing(command: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
    raise FileNotFoundError(2, "The system cannot find the file specified", "taskkill")


def taskkill_ending_only_the_parent(command: list[str],
                                    **options: Any) -> subprocess.CompletedProcess[bytes]:
    """Says success but ends only the process it was given (as taskkill without /T would)."""
    os.kill(int(command[command.index("/PID") + 1]), signal.SIGKILL)
    return subprocess.CompletedProcess(command, 0, b"SUCCESS", b"")


def windows_platform(run_command: Any) -> WindowsPlatform:
    return WindowsPlatform(registry=FakeRegistry(), start_file=lambda _target: None,
                           run_command=run_command)


@pytest.fixture
def script_and_child() -> Iterator[tuple[subprocess.Popen[bytes], psutil.Process]]:
    """A shell (run.bat's cmd.exe) with a long-running child (java.exe); both ended after."""
    process = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    shell = psutil.Process(process.pid)
    [child] = wait_until(lambda: shell.children(), 10, "the shell's child")
    try:
        yield process, child
    finally:
        for member in (child, shell):
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        process.wait(timeout=10)


def assert_ended(process: subprocess.Popen[bytes], child: psutil.Process) -> None:
    assert process.poll() is not None
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_the_tree_is_the_script_and_what_it_started(script_and_child) -> None:
    process, child = script_and_child
    assert [member.pid for member in process_tree(process.pid)] == [process.pid, child.pid]


@pytest.mark.parametrize("taskkill", [taskkill_refusing_t, taskkill_missing,
                                      taskkill_ending_only_the_parent],
                         ids=["taskkill-fails", "taskkill-missing", "taskkill-ends-only-parent"])
def test_the_whole_tree_ends_whatever_taskkill_does(script_and_child, taskkill,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    process, child = script_and_child
    caplog.set_level(logging.WARNING, "veracity_connector.platform.windows")

    windows_platform(taskkill).stop_process_tree(process, timeout_s=5)

    assert_ended(process, child)
    if taskkill is not taskkill_ending_only_the_parent:  # a failure is noticed and logged
        assert "taskkill" in caplog.text and "one by one" in caplog.text, caplog.text
    if taskkill is taskkill_refusing_t:
        assert "Unknown or invalid command line option" in caplog.text


def test_a_surviving_child_is_an_error_not_a_stop(script_and_child,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    process, child = script_and_child
    real_kill = psutil.Process.kill

    def kill_all_but_the_child(self: psutil.Process) -> None:
        if self.pid != child.pid:
            real_kill(self)
    monkeypatch.setattr(psutil.Process, "kill", kill_all_but_the_child)

    with pytest.raises(ProcessTreeStopError, match=rf"still running .*\(pid {child.pid}\)"):
        windows_platform(taskkill_refusing_t).stop_process_tree(process, timeout_s=1)
    assert child.is_running()


class PlatformLeavingAChild(WindowsPlatform):
    """Ends the script but reports its child alive, as a failed tree stop does."""

    def __init__(self) -> None:
        super().__init__(registry=FakeRegistry(), start_file=lambda _target: None,
                         run_command=taskkill_refusing_t)
        self.stops = 0

    def background_process_options(self) -> dict[str, Any]:
        return {"start_new_session": True}

    def gateway_run_script(self, gateway_folder: Path) -> list[str]:
        return ["sh", "-c", "sleep 300"]

    def stop_process_tree(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        self.stops += 1
        if self.stops == 1:
            raise ProcessTreeStopError("the gateway's processes are still running: java.exe "
                                       "(pid 4242)")
        process.kill()
        process.wait(timeout_s)


def test_the_launcher_does_not_say_stopped_while_part_of_the_gateway_runs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "IBKR gateway"
    (folder / "root").mkdir(parents=True)
    (folder / "root" / "conf.yaml").write_text("listenPort: 1\nlistenSsl: true\n")
    platform = PlatformLeavingAChild()
    launcher = GatewayLauncher(folder, tmp_path / "gateway.log", platform)
    launcher._run_command = lambda: ["sh", "-c", "sleep 300"]  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, "veracity_connector.launcher.process")
    launcher.start()

    with pytest.raises(GatewayStopError, match=r"did not stop: .*java\.exe \(pid 4242\)"):
        launcher.stop(timeout_s=5)

    assert "gateway stopped" not in caplog.text
    assert "did not stop" in caplog.text
    launcher.stop(timeout_s=5)  # the launcher kept the process: a second stop tries again
    assert platform.stops == 2
    assert "gateway stopped" in caplog.text
