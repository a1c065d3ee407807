"""`/api/v1/session`: log in (POST), who am I (GET), log out (DELETE); log out the others."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from veracity_server.auth.guards import (
    csrf_token,
    current_user_id,
    end_other_sessions,
    end_session,
    require_user,
    start_session,
)
from veracity_server.db import get_session
from veracity_server.errors import InvalidCredentials, NotAuthenticated
from veracity_server.limits import enforce_rate_limit
from veracity_server.models import User
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.requests_json import parse_body
from veracity_server.settings import current_settings
from veracity_server.users import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, authenticate

blueprint = Blueprint("auth", __name__)


class LoginRequest(BaseModel):
    """Email and password."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(min_length=3, max_length=MAX_EMAIL_LENGTH)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class SessionUser(BaseModel):
    """The logged-in user."""

    id: int
    email: str


class SessionInfo(BaseModel):
    """The session: who is logged in and the CSRF token for unsafe requests."""

    user: SessionUser
    csrf_token: str = Field(description="Send as X-CSRF-Token on POST/PUT/PATCH/DELETE.")


def _session_answer(user: User, token: str) -> dict[str, object]:
    return {"user": {"id": user.id, "email": user.email}, "csrf_token": token}


@blueprint.post("/api/v1/session")
def log_in() -> ResponseReturnValue:
    """Check the password and start a session."""
    enforce_rate_limit("login", current_settings().login_rate_limit)
    body = parse_body(LoginRequest)
    user = authenticate(get_session(), body.email, body.password)
    if user is None:
        raise InvalidCredentials()
    return jsonify(_session_answer(user, start_session(user.id)))


@blueprint.get("/api/v1/session")
def show_session() -> ResponseReturnValue:
    """The current session (for pages that need the CSRF token)."""
    user = get_session().get(User, current_user_id())
    token = csrf_token()
    if user is None or token is None:
        end_session()
        raise NotAuthenticated()
    return jsonify(_session_answer(user, token))


@blueprint.delete("/api/v1/session")
def log_out() -> ResponseReturnValue:
    """End the session."""
    require_user()
    end_session()
    return "", 204


class OtherSessionsEnded(BaseModel):
    """How many other sessions were ended."""

    ended: int = Field(description="Sessions of this user ended, besides the current one.")


@blueprint.post("/api/v1/session/log-out-others")
def log_out_others() -> ResponseReturnValue:
    """End every other session of this user (other browsers, copied cookies); keep this one."""
    require_user()
    return jsonify(ended=end_other_sessions())


RATE_LIMITED = error_response("Too many attempts", {"Retry-After": "Seconds to wait"})

declare_operations(blueprint, [
    Operation("POST", "/api/v1/session", "Log in", tag="session", request_model=LoginRequest,
              responses={200: Response("Logged in; the session cookie is set", SessionInfo),
                         400: error_response("Malformed body"),
                         401: error_response("Wrong email or password"),
                         413: error_response("Body too large"),
                         429: RATE_LIMITED}),
    Operation("GET", "/api/v1/session", "The current session", tag="session",
              security="session",
              responses={200: Response("Logged in", SessionInfo),
                         401: error_response("Not logged in")}),
    Operation("DELETE", "/api/v1/session", "Log out", tag="session", security="session",
              csrf=True,
              responses={204: Response("Logged out", content_type=None),
                         401: error_response("Not logged in"),
                         403: error_response("Missing or wrong X-CSRF-Token")}),
    Operation("POST", "/api/v1/session/log-out-others", "Log out every other session",
              tag="session", security="session", csrf=True,
              description="Ends this user's sessions in other browsers (and any copy of their "
                          "cookies); the current session stays.",
              responses={200: Response("The other sessions ended", OtherSessionsEnded),
                         401: error_response("Not logged in"),
                         403: error_response("Missing or wrong X-CSRF-Token")}),
])
