"""The test-support kit itself: wait_until, ports, managed processes."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.support.processes import (
    ManagedProcess,
    free_port,
    port_held_by_another_program,
    running_process,
)
from tests.support.waiting import WaitTimedOut, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "ready"])
    assert wait_until(lambda: next(answers), 10, "an answer", interval_s=0) == "ready"


def test_wait_until_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(WaitTimedOut, match=r"waiting for a snapshot\nlast seen: \[\]"):
        wait_until(lambda: [], 0, "a snapshot")


def test_a_message_callable_is_asked_only_when_the_wait_fails() -> None:
    asked: list[bool] = []

    def message() -> str:
        asked.append(True)
        return "the log tail"

    assert wait_until(lambda: True, 0, message)
    assert asked == []
    with pytest.raises(WaitTimedOut, match="the log tail"):
        wait_until(lambda: False, 0, message)


def test_retried_exceptions_mean_not_yet_and_the_last_one_is_kept() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(WaitTimedOut, match="last seen: ConnectionRefusedError: nobody listens") \
            as caught:
        wait_until(refused, 0, "a server", retry_on=(ConnectionError,))
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_other_exceptions_end_the_wait_at_once() -> None:
    calls: list[int] = []

    def exited() -> bool:
        calls.append(1)
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        wait_until(exited, 60, "the process", retry_on=(ConnectionError,))
    assert calls == [1]


def test_a_held_port_refuses_a_second_listener_and_is_free_afterwards() -> None:
    with (port_held_by_another_program() as port, socket.socket() as second,
          pytest.raises(OSError)):
        second.bind(("127.0.0.1", port))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
    assert 0 < free_port() < 65536


def test_a_process_that_exits_before_it_is_ready_fails_with_its_output(tmp_path: Path) -> None:
    process = ManagedProcess([sys.executable, "-c", "print('no config'); raise SystemExit(3)"],
                             log_path=tmp_path / "out.log", ready_check=lambda: False,
                             name="the tool")
    with pytest.raises(RuntimeError, match=r"the tool exited with 3(.|\n)*no config"):
        process.start()
    assert process.process is None


def test_running_process_is_stopped_after_the_block(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    command = [sys.executable, "-c",
               f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(300)"]
    with running_process(command, ready_check=ready.exists) as process:
        assert process.poll() is None
    assert process.poll() is not None
