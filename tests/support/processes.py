"""Start real processes on loopback for tests, wait for them, and always stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout_s: float = 20.0, process: subprocess.Popen | None = None,
                  verify: bool = True) -> None:
    """Poll `url` until it answers (any HTTP status) or fail with what went wrong."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            requests.get(url, timeout=2, verify=verify)
            return
        except requests.RequestException as error:
            last_error = error
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s: {last_error}")


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Stop a process started by `running_process` (its whole process group), politely first."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


@contextlib.contextmanager
def running_process(command: Sequence[str], *, env: dict[str, str] | None = None,
                    cwd: Path | None = None, log_path: Path | None = None,
                    ready_url: str | None = None, ready_timeout_s: float = 30.0,
                    verify: bool = True) -> Iterator[subprocess.Popen]:
    """Run `command` in its own process group; wait for `ready_url`; stop it on exit.

    Output goes to `log_path` (so a failing test can show it) instead of a pipe that could fill.
    """
    full_env = {**os.environ, **(env or {})}
    log_file = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(list(command), env=full_env, cwd=cwd, stdout=log_file,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if ready_url:
            try:
                wait_for_http(ready_url, ready_timeout_s, process, verify=verify)
            except (TimeoutError, RuntimeError) as error:
                output = log_path.read_text(errors="replace")[-4000:] if log_path else ""
                raise RuntimeError(f"{error}\n--- output of {command[0]} ---\n{output}") from error
        yield process
    finally:
        stop_process(process)
        if log_path:
            log_file.close()  # type: ignore[union-attr]
