"""Alert e-mail through an SMTP server that requires STARTTLS and a login, as production
relays do: the worker (`alerts-worker --once`) upgrades the connection, verifies the server's
certificate (a throwaway self-signed one: refused until trusted through SSL_CERT_FILE), logs in
with the password from VERACITY_SMTP_PASSWORD_FILE, and sends; a wrong password is retried."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from tests.server.alerts_support import MailBox
from tests.server.helpers import build_world
from tests.server.test_alerts_detection import enable_alerts, set_connector
from tests.support.processes import free_port
from tests.support.server_fixtures import TEST_SETTINGS
from veracity_server.alerts.model import AlertDelivery
from veracity_server.app import create_app
from veracity_server.db import database

USER, PASSWORD = "veracity-relay", "relay password with spaces"


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl, as TRAPS.md suggests)."""
    cert, key = folder / "smtp.pem", folder / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@contextlib.contextmanager
def tls_smtp_server(cert: Path, key: Path) -> Iterator[tuple[int, MailBox, list[str]]]:
    """aiosmtpd requiring STARTTLS, then AUTH with USER/PASSWORD; yields logins tried too."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    logins: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        logins.append(data.login.decode())
        # handled=False: aiosmtpd answers the failure (535) itself; its default is True.
        return AuthResult(success=(data.login.decode(), data.password.decode()) ==
                          (USER, PASSWORD), handled=False)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True, authenticator=authenticate)
    controller.start()
    try:
        yield port, box, logins
    finally:
        controller.stop()


def run_once(settings: dict[str, Any], cert: Path | None) -> subprocess.CompletedProcess[str]:
    """`veracity-server alerts-worker --once`, trusting `cert` (None: the system's CAs only)."""
    env = {**{name: value for name, value in os.environ.items() if name != "SSL_CERT_FILE"},
           **({"SSL_CERT_FILE": str(cert)} if cert else {}),
           **{name: str(value) for name, value in settings.items()
              if name.isupper() and value is not None}}
    return subprocess.run([sys.executable, "-m", "veracity_server.cli", "alerts-worker",
                           "--once"], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def make_due(settings: dict[str, Any]) -> None:
    """The retry is due after VERACITY_ALERTS_RETRY_S's first wait: make it due now."""
    app = create_app(settings)
    try:
        with database(app).engine.begin() as connection:
            connection.execute(update(AlertDelivery).values(
                next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    finally:
        database(app).dispose()


def test_starttls_login_and_a_password_file(sqlite_database_url: str, tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n")
    with tls_smtp_server(cert, key) as (port, box, logins):
        settings = {**TEST_SETTINGS, "DATABASE_URL": sqlite_database_url,
                    "VERACITY_INSTANCE_PATH": str(tmp_path / "instance"),
                    "VERACITY_SMTP_HOST": "127.0.0.1", "VERACITY_SMTP_PORT": port,
                    "VERACITY_SMTP_USERNAME": USER, "VERACITY_SMTP_TIMEOUT_S": 10,
                    "VERACITY_SMTP_PASSWORD_FILE": str(password_file)}
        app = create_app(settings)
        try:
            world = build_world(app, app.test_client())
            enable_alerts(app, webhook_enabled=False)
            set_connector(app, world.connector_id,
                          last_seen_at=datetime.now(UTC) - timedelta(hours=1))
        finally:
            database(app).dispose()

        untrusted = run_once(settings, None)
        assert untrusted.returncode == 0, untrusted.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr and logins == []

        make_due(settings)
        wrong = tmp_path / "wrong-password"
        wrong.write_text("not it")
        refused = run_once({**settings, "VERACITY_SMTP_PASSWORD_FILE": str(wrong)}, cert)
        assert refused.returncode == 0, refused.stderr
        assert box.subjects("me@example.com") == [] and set(logins) == {USER}
        assert "SMTP 535" in refused.stderr and ": pending" in refused.stderr  # to be retried

        make_due(settings)
        sent = run_once(settings, cert)
        assert sent.returncode == 0, sent.stderr
        assert box.subjects("me@example.com") == [
            "Veracity: connector on trader-pc has gone silent"], sent.stderr
