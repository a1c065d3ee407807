"""One tray app per user: a lock file, plus a loopback socket a second launch talks to.

The first instance holds an OS lock on `tray.lock` (released by the OS if it crashes) and
listens on a loopback port written, with a random secret, to `tray.instance.json` (0600). A
second launch cannot take the lock, so it sends the secret and "show-status" to that port and
exits: the running instance then brings its status window up. The secret keeps other local
users' programs from poking the tray.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

LOCK_FILE = "tray.lock"
INFO_FILE = "tray.instance.json"
SHOW_STATUS = "show-status"
_ANSWER_TIMEOUT_S = 5.0


class AlreadyRunning(RuntimeError):
    """Another tray app of this user holds the lock."""


def _try_lock(stream: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        stream.seek(0)  # everyone locks the same first byte, wherever the file ends
        try:
            msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class SingleInstance:
    """Holds the per-user lock and answers later launches while the tray runs."""

    def __init__(self, data_dir: Path, on_show_status: Callable[[], None]) -> None:
        self._data_dir = data_dir
        self._on_show_status = on_show_status
        self._lock_stream: IO[bytes] | None = None
        self._server: socket.socket | None = None
        self._secret = secrets.token_urlsafe(24)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def info_path(self) -> Path:
        """Where the running instance's port and secret are written."""
        return self._data_dir / INFO_FILE

    def acquire(self) -> None:
        """Take the lock and start listening; AlreadyRunning if another instance has it."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        stream = open(self._data_dir / LOCK_FILE, "a+b")  # noqa: SIM115 (held while running)
        if not _try_lock(stream):
            stream.close()
            raise AlreadyRunning(f"another tray app holds {self._data_dir / LOCK_FILE}")
        self._lock_stream = stream
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(0.5)  # so the accept loop notices stop() promptly
        self._server = server
        info = {"port": server.getsockname()[1], "secret": self._secret, "pid": os.getpid()}
        temporary = self.info_path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(info, file)
        os.replace(temporary, self.info_path)
        self._thread = threading.Thread(target=self._serve, name="single-instance",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                connection, _address = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by release()
            with connection:
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(_ANSWER_TIMEOUT_S)
        try:
            request = connection.recv(256).decode("utf-8", errors="replace").strip()
        except OSError:
            return
        secret, _, command = request.partition(" ")
        if not hmac.compare_digest(secret.encode(), self._secret.encode()):
            logger.warning("ignored a local connection without the instance secret")
            return
        if command == SHOW_STATUS:
            logger.info("a second launch asked for the status window")
            try:
                self._on_show_status()
            except Exception:
                logger.exception("showing the status for a second launch failed")
            with contextlib.suppress(OSError):
                connection.sendall(b"ok\n")

    def release(self) -> None:
        """Stop listening and give the lock back."""
        self._stop.set()
        if self._server is not None:
            self._server.close()
        if self._thread is not None:
            self._thread.join(2)
        with contextlib.suppress(FileNotFoundError):
            self.info_path.unlink()
        if self._lock_stream is not None:
            self._lock_stream.close()  # closing the file releases the OS lock


def ask_running_instance_to_show_status(data_dir: Path) -> bool:
    """From a second launch: ask the running tray to show its status. True if it answered."""
    try:
        info = json.loads((data_dir / INFO_FILE).read_text(encoding="utf-8"))
        address = ("127.0.0.1", int(info["port"]))
        secret = str(info["secret"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        with socket.create_connection(address, timeout=_ANSWER_TIMEOUT_S) as connection:
            connection.sendall(f"{secret} {SHOW_STATUS}\n".encode())
            return connection.recv(16).startswith(b"ok")
    except OSError:
        return False
