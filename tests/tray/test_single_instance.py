"""One tray app per user: the lock, and a second launch asking the first for its status."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from tests.support.processes import free_port
from veracity_connector.tray.single_instance import (
    INFO_FILE,
    AlreadyRunning,
    SingleInstance,
    ask_running_instance_to_show_status,
)


def test_a_second_instance_cannot_take_the_lock_and_asks_the_first(tmp_path: Path) -> None:
    shown = threading.Event()
    first = SingleInstance(tmp_path, on_show_status=shown.set)
    first.acquire()
    try:
        second = SingleInstance(tmp_path, on_show_status=lambda: None)
        with pytest.raises(AlreadyRunning):
            second.acquire()
        assert (tmp_path / INFO_FILE).stat().st_mode & 0o077 == 0  # the secret is private

        assert ask_running_instance_to_show_status(tmp_path) is True
        assert shown.is_set()
    finally:
        first.release()
    assert not (tmp_path / INFO_FILE).exists()
    again = SingleInstance(tmp_path, on_show_status=lambda: None)
    again.acquire()  # the lock is free once the first let go
    again.release()


def test_a_caller_without_the_secret_is_ignored(tmp_path: Path) -> None:
    shown = threading.Event()
    instance = SingleInstance(tmp_path, on_show_status=shown.set)
    instance.acquire()
    try:
        port = json.loads((tmp_path / INFO_FILE).read_text())["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"guess show-status\n")
            assert connection.recv(16) == b""  # closed without an answer
        assert not shown.is_set()
    finally:
        instance.release()


def test_no_running_instance_means_no_answer(tmp_path: Path) -> None:
    assert ask_running_instance_to_show_status(tmp_path) is False
    port = free_port()  # nothing listens there
    (tmp_path / INFO_FILE).write_text(json.dumps({"port": port, "secret": "x"}))
    assert ask_running_instance_to_show_status(tmp_path) is False  # stale file after a crash
