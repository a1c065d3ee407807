"""The alerts half of `make demo`: a local SMTP sink and the alerts worker.

`alert_settings()` returns the server settings that point alert e-mails at the sink
(scripts/demo.py merges them into the server's environment, so the page offers e-mail too).
`alerts_side(demo_dir, env)` is a context manager: it starts an SMTP server (aiosmtpd) on
loopback that writes every message it gets to `<demo_dir>/mail/NNNN-<subject>.eml`, runs
`veracity-server alerts-worker` with the server's environment until the block ends, and yields
the lines to print. Webhooks may point anywhere on loopback (VERACITY_ALERTS_WEBHOOK_ALLOW_PRIVATE).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alert_settings() -> dict[str, str]:
    """Server settings for the demo's alerts: the sink on a free port, quick passes."""
    port = _free_port()
    return {"VERACITY_SMTP_HOST": "127.0.0.1", "VERACITY_SMTP_PORT": str(port),
            "VERACITY_SMTP_SECURITY": "none", "VERACITY_SMTP_FROM": "Veracity <alerts@localhost>",
            "VERACITY_ALERTS_DETECT_INTERVAL_S": "10", "VERACITY_ALERTS_DELIVERY_INTERVAL_S": "2",
            "VERACITY_ALERTS_WEBHOOK_ALLOW_PRIVATE": "true"}


class MailFolder:
    """An aiosmtpd handler writing each message to a numbered .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        existing = [int(path.name[:4]) for path in folder.glob("[0-9][0-9][0-9][0-9]-*.eml")]
        self.numbers = itertools.count(max(existing, default=0) + 1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        subject = re.search(rb"^Subject: (.*)$", envelope.content, re.MULTILINE | re.IGNORECASE)
        words = re.sub(r"[^A-Za-z0-9]+", "-", subject.group(1).decode(errors="replace")
                       if subject else "message").strip("-")[:60]
        with self.lock:
            path = self.folder / f"{next(self.numbers):04d}-{words}.eml"
        path.write_bytes(envelope.content)
        return "250 OK"


@contextlib.contextmanager
def alerts_side(demo_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """The SMTP sink and the alerts worker for the block; yields what to print."""
    from aiosmtpd.controller import Controller

    folder = demo_dir / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(MailFolder(folder), hostname="127.0.0.1",
                            port=int(env["VERACITY_SMTP_PORT"]))
    controller.start()
    log_path = demo_dir / "alerts-worker.log"
    try:
        with open(log_path, "ab") as log_file:
            worker = subprocess.Popen(
                [sys.executable, "-m", "veracity_server.cli", "alerts-worker"], env=env,
                cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            yield (f"  Alerts worker               {log_path}\n"
                   f"  Alert e-mails (SMTP sink)   {folder}/  (set them up under Alerts on the "
                   f"Profile page)")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    finally:
        controller.stop()
