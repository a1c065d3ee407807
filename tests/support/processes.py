"""Real processes on loopback for tests: free ports, start, wait until ready, always stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import requests

from tests.support.waiting import WaitTimedOut, wait_until

OUTPUT_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def port_held_by_another_program(port: int = 0) -> Iterator[int]:
    """A bare listener on 127.0.0.1:`port` (0: one the system picks) for the `with` block.

    It accepts nothing and answers nothing, like a program that is not ours sitting on a port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield int(listener.getsockname()[1])


class ProcessExited(RuntimeError):
    """A process exited while a test was waiting for it."""


def exit_check(process: subprocess.Popen | None, what: str) -> None:
    """Raise `ProcessExited` if `process` has ended (a wait for it can stop at once)."""
    if process is not None and process.poll() is not None:
        raise ProcessExited(f"{what} exited with {process.returncode}")


def wait_for_http(url: str, timeout_s: float = 20.0, process: subprocess.Popen | None = None,
                  verify: bool | str = True) -> None:
    """Until `url` answers (any HTTP status); fails early if `process` exits meanwhile."""
    def answers() -> bool:
        exit_check(process, f"the process serving {url}")
        requests.get(url, timeout=2, verify=verify)
        return True

    wait_until(answers, timeout_s, f"{url} to answer", retry_on=(requests.RequestException,))


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0,
                 first_signal: signal.Signals = signal.SIGTERM) -> None:
    """Stop a process started in its own session (its whole process group), politely first."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first_signal)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


class ManagedProcess:
    """A command run in its own process group, output to a log, waited for until ready.

    Ready means `ready_url` answers (`verify` as for `requests`), or `ready_check()` returns
    true (exceptions in `ready_retry_on` mean "not yet"). `start()` can follow `stop()`: a server
    taken down and brought back on the same port.
    """

    def __init__(self, command: Sequence[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, log_path: Path | None = None,
                 ready_url: str | None = None, verify: bool | str = True,
                 ready_check: Callable[[], object] | None = None,
                 ready_retry_on: tuple[type[BaseException], ...] = (),
                 ready_timeout_s: float = 30.0, stop_signal: signal.Signals = signal.SIGTERM,
                 name: str | None = None) -> None:
        self.command = list(command)
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.ready_url = ready_url
        self.verify = verify
        self.ready_check = ready_check
        self.ready_retry_on = ready_retry_on
        self.ready_timeout_s = ready_timeout_s
        self.stop_signal = stop_signal
        self.name = name or Path(self.command[0]).name
        self.process: subprocess.Popen | None = None

    def output(self) -> str:
        """The end of what it wrote (for failure messages); empty without a log."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-OUTPUT_TAIL_CHARS:]

    def start(self) -> subprocess.Popen:
        """Start it (unless running) and wait until it is ready; stopped again if it is not."""
        if self.process is not None and self.process.poll() is None:
            return self.process
        log_file = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.command, env={**os.environ, **(self.env or {})}, cwd=self.cwd,
                stdout=log_file or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            if log_file is not None:
                log_file.close()  # the child has its own descriptor
        try:
            self._wait_until_ready(self.process)
        except (WaitTimedOut, ProcessExited) as error:
            self.stop()
            raise RuntimeError(f"{error}\n--- output of {self.name} ---\n"
                               f"{self.output()}") from error
        except BaseException:  # e.g. a failing check or Ctrl-C: nothing is left running
            self.stop()
            raise
        return self.process

    def _wait_until_ready(self, process: subprocess.Popen) -> None:
        if self.ready_url:
            wait_for_http(self.ready_url, self.ready_timeout_s, process, self.verify)
        check = self.ready_check
        if check is not None:
            def ready() -> object:
                exit_check(process, self.name)
                return check()

            wait_until(ready, self.ready_timeout_s, f"{self.name} to be ready",
                       retry_on=self.ready_retry_on)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop it and its children, if running."""
        if self.process is not None:
            stop_process(self.process, timeout_s, self.stop_signal)
            self.process = None


@contextlib.contextmanager
def running_process(command: Sequence[str], *, env: dict[str, str] | None = None,
                    cwd: Path | None = None, log_path: Path | None = None,
                    ready_url: str | None = None, verify: bool | str = True,
                    ready_check: Callable[[], object] | None = None,
                    ready_timeout_s: float = 30.0) -> Iterator[subprocess.Popen]:
    """Run `command` in its own process group until ready (see `ManagedProcess`); stop it on exit.

    Output goes to `log_path` (so a failing test can show it) instead of a pipe that could fill.
    """
    managed = ManagedProcess(command, env=env, cwd=cwd, log_path=log_path, ready_url=ready_url,
                             verify=verify, ready_check=ready_check,
                             ready_timeout_s=ready_timeout_s)
    process = managed.start()
    try:
        yield process
    finally:
        managed.stop()
