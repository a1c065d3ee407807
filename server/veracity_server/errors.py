"""One error model for the whole API: `{"error": {"code": "<snake_case>", "message": "..."}}`.

Views (and other blueprints, e.g. downloads) raise an `ApiError` subclass; `register_error_handlers`
installs ONE handler that renders those, werkzeug's HTTP errors (404, 405, 413, 429, ...) and
unexpected exceptions (500) alike — never an HTML page, never a stack trace in the body. A
database that is away or too slow is not unexpected: 503 `database_unavailable` with
`Retry-After` (db.is_database_unavailable decides), which connectors retry.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from veracity_server.db import is_database_unavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports to the caller: HTTP status, snake_case code, human message."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.headers = headers or {}


class InvalidJson(ApiError):
    """The body is not valid UTF-8 JSON (or not a JSON object)."""

    status, code, message = 400, "invalid_json", "The request body is not valid JSON."


class InvalidRequest(ApiError):
    """The JSON does not match the schema; the message names the field path."""

    status, code, message = 400, "invalid_request", "The request does not match the schema."


class NotAuthenticated(ApiError):
    """No (valid) user session."""

    status, code, message = 401, "not_authenticated", "Log in first."


class InvalidCredentials(ApiError):
    """Wrong email or password."""

    status, code, message = 401, "invalid_credentials", "Wrong email or password."


class InvalidKey(ApiError):
    """Unknown, malformed or revoked connector key."""

    status, code = 401, "invalid_key"
    message = "The connector key is unknown or revoked. Generate a new token and pair again."


class TokenInvalid(ApiError):
    """The pairing token does not exist."""

    status, code = 401, "token_invalid"
    message = "This pairing token is not valid. Generate a new one in Profile → IBKR Integration."


class TokenExpired(ApiError):
    """The pairing token's TTL has passed."""

    status, code = 401, "token_expired"
    message = "This pairing token has expired. Generate a new one in Profile → IBKR Integration."


class TokenUsed(ApiError):
    """The pairing token was already exchanged."""

    status, code = 401, "token_used"
    message = ("This pairing token was already used. "
               "Generate a new one in Profile → IBKR Integration.")


class CsrfFailed(ApiError):
    """Unsafe method without the session's X-CSRF-Token."""

    status, code = 403, "csrf_failed"
    message = "Missing or wrong X-CSRF-Token header; reload the page and try again."


class NotFound(ApiError):
    """The resource does not exist (or belongs to someone else)."""

    status, code, message = 404, "not_found", "Not found."


class ServiceUnavailable(ApiError):
    """A dependency (database, storage) is not reachable."""

    status, code, message = 503, "unavailable", "The service is temporarily unavailable."


# Long enough for a database restart or failover to finish, short enough for a connector's
# quick retry (it honours Retry-After, then keeps the snapshot in its outbox).
DATABASE_RETRY_AFTER_S = 5


class DatabaseUnavailable(ApiError):
    """The database is unreachable, restarting, or slower than the database timeout."""

    status, code = 503, "database_unavailable"
    message = (f"The database is temporarily unavailable; nothing was stored. "
               f"Try again in {DATABASE_RETRY_AFTER_S} seconds.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})


# Werkzeug's HTTP errors mapped to our codes; anything unlisted gets a code from its name.
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

HTTP_ERROR_MESSAGES = {
    404: "No such URL on this server.",
    413: "The request body is too large.",
    429: "Too many requests; wait a moment and try again.",
}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """The JSON error body with its status (and any extra headers such as Retry-After)."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _render_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.headers)


def _render_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_ERROR_CODES.get(status) or _snake_case(error.name)
    message = HTTP_ERROR_MESSAGES.get(status) or error.description or error.name
    headers: dict[str, Any] = {}
    # Keep the headers werkzeug computed (Allow on 405, Retry-After on 429) but not its HTML type.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            headers[name] = value
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = _retry_after_seconds(error)
    if status == 405:
        message = "This method is not allowed on this URL."
    return error_response(status, code, message, headers)


def _retry_after_seconds(error: HTTPException) -> str:
    retry_after = getattr(error, "retry_after", None)
    return str(int(retry_after)) if retry_after else "60"


def _render_unexpected(error: Exception) -> Response:
    if type(error).__module__.startswith("gunicorn.http"):
        # gunicorn parses a chunked body only as the app reads it: a malformed chunk surfaces
        # here, mid-request. It is the client's fault, not ours.
        log.info("malformed HTTP request body: %s", type(error).__name__)
        return error_response(400, "bad_request", "The request body is not well-formed HTTP.")
    if is_database_unavailable(error):
        # Expected during a database restart or overload: one line, no traceback, no message
        # text (a driver's message may quote the statement's values).
        log.warning("database unavailable while handling a request: %s", _error_names(error))
        return _render_api_error(DatabaseUnavailable())
    # The traceback goes to the server log only; request bodies are never logged (they carry keys,
    # tokens and portfolio data).
    if _may_quote_stored_data(error):
        # Database errors quote the offending values ("CONTEXT: COPY positions, line 1, column
        # market_price: ..."): log where it failed, not the message.
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error("unexpected %s while handling a request (its message is withheld: it may "
                  "quote portfolio data)\n%s", type(error).__name__, frames)
    else:
        log.exception("unexpected error while handling a request", exc_info=error)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def _error_names(error: BaseException) -> str:
    """"OperationalError <- QueryCanceled": the exception and its cause, by class name."""
    names = [type(error).__name__]
    if error.__cause__ is not None:
        names.append(type(error.__cause__).__name__)
    return " <- ".join(names)


def _may_quote_stored_data(error: BaseException) -> bool:
    """True for database errors (SQLAlchemy's and the drivers' own), whose text holds values."""
    for cause in (error, error.__cause__, error.__context__):
        if cause is not None and type(cause).__module__.split(".")[0] in {
                "sqlalchemy", "psycopg", "sqlite3"}:
            return True
    return False


def _snake_case(name: str) -> str:
    return "_".join(name.lower().replace("-", " ").split())


def register_error_handlers(app: Flask) -> None:
    """Render every failure of `app` as the JSON error body."""
    app.register_error_handler(ApiError, _render_api_error)
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(Exception, _render_unexpected)
