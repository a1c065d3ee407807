"""The session cookie: signed (itsdangerous), HttpOnly, SameSite=Lax, Secure unless on loopback.

`VERACITY_COOKIE_SECURE=auto` (default) marks the cookie Secure except when the request's host is
loopback (localhost, 127.0.0.1, ::1): browsers and HTTP clients drop Secure cookies over plain
http, and a local demo or test server has no TLS. `true`/`false` force it either way.
"""

from __future__ import annotations

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# The connector's routes authenticate with its key (Authorization: Bearer), never a cookie.
CONNECTOR_API_PREFIX = "/api/v1/connector/"


def request_is_loopback() -> bool:
    """True when the request was addressed to a loopback host name."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return host.lower() in LOOPBACK_HOSTS


class LoopbackAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session with the Secure flag decided per request (see module docstring)."""

    def __init__(self, cookie_secure: str) -> None:
        self.cookie_secure = cookie_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The cookie's session; on the connector's routes none (Flask's null session, never
        saved): a cookie sent there is not read, and the heartbeats and snapshots that are
        most of the server's requests skip verifying one (a tenth of a heartbeat's time)."""
        if request.path.startswith(CONNECTOR_API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure unless configured off, or `auto` on a loopback host."""
        if self.cookie_secure == "true":
            return True
        if self.cookie_secure == "false":
            return False
        return not request_is_loopback()
