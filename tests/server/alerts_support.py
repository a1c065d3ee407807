"""Real receivers on loopback for the alert tests: an SMTP server (aiosmtpd) and a webhook
receiver (http.server), plus the alerts worker as a real process beside a live server."""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.processes import ManagedProcess, free_port
from tests.support.server_fixtures import REPO_ROOT, LiveServer


class MailBox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def subjects(self, recipient: str) -> list[str]:
        """Subjects received so far for `recipient`, in order."""
        with self.lock:
            pairs = zip(self.messages, self.recipients, strict=True)
            return [str(message["Subject"]) for message, to in pairs if recipient in to]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, MailBox]]:
    """A real SMTP server on 127.0.0.1 (port 0 does not work with aiosmtpd's Controller)."""
    from aiosmtpd.controller import Controller

    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@dataclass
class Hook:
    """One request the webhook receiver got."""

    headers: dict[str, str]
    body: bytes
    status: int
    path: str = "/"


@dataclass
class WebhookReceiver:
    """Records every POST; per path, answers the statuses in `scripts[path]` first, then 200."""

    port: int
    hooks: list[Hook] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        """Where to send webhooks meant for `path`."""
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[Hook]:
        """A copy of the requests to `path` so far."""
        with self.lock:
            return [hook for hook in self.hooks if hook.path == path]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A small HTTP server on loopback standing in for the user's webhook endpoint."""
    receiver = WebhookReceiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                script = receiver.scripts.get(self.path)
                status = script.pop(0) if script else 200
                receiver.hooks.append(Hook({key.lower(): value for key, value
                                            in self.headers.items()}, body, status,
                                           self.path))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def alert_env(smtp_port: int) -> dict[str, str]:
    """Settings for a live server and its workers: local SMTP, fast passes and retries."""
    return {"VERACITY_SMTP_HOST": "127.0.0.1", "VERACITY_SMTP_PORT": str(smtp_port),
            "VERACITY_SMTP_SECURITY": "none", "VERACITY_SMTP_FROM": "Veracity <alerts@test>",
            "VERACITY_ALERTS_DETECT_INTERVAL_S": "0.5",
            "VERACITY_ALERTS_DELIVERY_INTERVAL_S": "0.5",
            "VERACITY_ALERTS_MIN_THRESHOLD_S": "1", "VERACITY_ALERTS_RETRY_S": "1,2,2",
            "VERACITY_ALERTS_WEBHOOK_ALLOW_PRIVATE": "true"}


@contextlib.contextmanager
def alerts_worker(server: LiveServer, log_path: Path) -> Iterator[ManagedProcess]:
    """`veracity-server alerts-worker` for the server's database, until the block ends."""
    from tests.support.server_fixtures import TEST_SECRET_KEY

    env = {**server.env, "DATABASE_URL": server.database_url, "VERACITY_ENV": "development",
           "VERACITY_SECRET_KEY": TEST_SECRET_KEY}
    worker = ManagedProcess(
        [sys.executable, "-m", "veracity_server.cli", "alerts-worker"], env=env, cwd=REPO_ROOT,
        log_path=log_path, name="alerts-worker",
        ready_check=lambda: log_path.exists() and "alerts worker" in log_path.read_text()
        and "started" in log_path.read_text())
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
