"""Guards for the user API: a logged-in session, and the CSRF token on unsafe methods."""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from veracity_server.errors import CsrfFailed, NotAuthenticated

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"


def start_session(user_id: int) -> str:
    """Log `user_id` in with a fresh session; returns its CSRF token."""
    session.clear()  # never carry anything over from before the login (fixation)
    session.permanent = True
    session["user_id"] = user_id
    token = secrets.token_urlsafe(32)
    session["csrf_token"] = token
    return token


def end_session() -> None:
    """Forget the session (the cookie is removed in the response)."""
    session.clear()


def current_user_id() -> int:
    """The logged-in user's id; NotAuthenticated otherwise."""
    user_id = session.get("user_id")
    if not isinstance(user_id, int):
        raise NotAuthenticated()
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
