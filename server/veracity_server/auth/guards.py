"""Guards for the user API: a live session, and the CSRF token on unsafe methods.

The signed cookie carries the user id, the CSRF token and the session's random id; the session
is live only while its server-side record is (auth/records.py), so logout and "log out other
sessions" take effect on every copy of a cookie at once.
"""

from __future__ import annotations

import hmac
import secrets

from flask import g, request, session

from veracity_server.auth import records
from veracity_server.db import get_session
from veracity_server.errors import CsrfFailed, NotAuthenticated
from veracity_server.settings import current_settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
LIVE_USER_KEY = "veracity_live_user_id"


def _lifetimes() -> tuple[int, int]:
    settings = current_settings()
    return settings.session_lifetime_s, settings.session_idle_s


def start_session(user_id: int) -> str:
    """Log `user_id` in with a fresh session; returns its CSRF token."""
    previous = session.get("session_id")
    if isinstance(previous, str):  # a login over a live session replaces it
        records.end_session_record(get_session(), previous)
    session.clear()  # never carry anything over from before the login (fixation)
    session.permanent = True
    session["user_id"] = user_id
    session["session_id"] = records.open_session_record(get_session(), user_id, _lifetimes())
    token = secrets.token_urlsafe(32)
    session["csrf_token"] = token
    g.pop(LIVE_USER_KEY, None)
    return token


def end_session() -> None:
    """End the session: its record (every copy of the cookie) and the cookie itself."""
    session_id = session.get("session_id")
    if isinstance(session_id, str):
        records.end_session_record(get_session(), session_id)
    session.clear()
    g.pop(LIVE_USER_KEY, None)


def end_other_sessions() -> int:
    """End every other session of the logged-in user; returns how many ended."""
    user_id = current_user_id()
    return records.end_user_sessions(get_session(), user_id, keep_session_id=session["session_id"])


def current_user_id() -> int:
    """The logged-in user's id while the session is live; NotAuthenticated otherwise."""
    cached = g.get(LIVE_USER_KEY)
    if cached is not None:
        return int(cached)
    user_id = session.get("user_id")
    session_id = session.get("session_id")
    if not isinstance(user_id, int) or not isinstance(session_id, str) or \
            not records.session_is_live(get_session(), user_id, session_id, _lifetimes()):
        if session:
            session.clear()  # an ended or expired session: drop the cookie too
        raise NotAuthenticated()
    g.setdefault(LIVE_USER_KEY, user_id)
    return user_id


def csrf_token() -> str | None:
    """The CSRF token of the current session."""
    token = session.get("csrf_token")
    return token if isinstance(token, str) else None


def require_user() -> int:
    """The logged-in user's id, after checking X-CSRF-Token on unsafe methods."""
    user_id = current_user_id()
    if request.method not in SAFE_METHODS:
        expected = csrf_token()
        sent = request.headers.get(CSRF_HEADER, "")
        if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
            raise CsrfFailed()
    return user_id
