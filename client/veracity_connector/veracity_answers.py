"""What Veracity's answers mean: a good answer's values, or the failure class it raises.

Failure classes decide what happens next (ActivityWatch's lesson); `interpret_answer` reads
every response `VeracityClient` gets:

* 401 with the contract's error body and code `invalid_key` → `KeyRevoked` — the only answer
  that means "Veracity refused the key";
* 401 on exchange (`token_invalid | token_expired | token_used`) → `PairingRejected`;
* 429 → `VeracityRateLimited` carrying `Retry-After`;
* 5xx (after the client's retries) → `VeracityUnavailable`;
* another 4xx with the contract's error body → `RequestRejected`, never retried (sending it
  again would fail the same way);
* anything not shaped like Veracity's answers — 401/403/407 from a proxy or captive portal, an
  HTML page, JSON of another shape, a 2xx without JSON — → `VeracityUnavailable` saying what
  answered (`answered_by`: status, Server header, the body's first words): key and outbox kept;
* a redirect → `VeracityRedirected` (a `VeracityUnavailable`) naming its target.

Good answers are read with the contract's models (`veracity_contract`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from veracity_contract.connector import HeartbeatAnswer
from veracity_contract.pairing import ExchangeAnswer

DEFAULT_HEARTBEAT_INTERVAL_S = 60
DEFAULT_SNAPSHOT_INTERVAL_S = 120
DEFAULT_RATE_LIMIT_WAIT_S = 60.0  # a 429 without a usable Retry-After
# Veracity names the limit a 413/429 `limit_exceeded` went past (docs/contract.md, Limits).
LIMIT_HEADER = "Veracity-Limit"
LIMIT_NAME_MAX_LENGTH = 64

AnswerModel = TypeVar("AnswerModel", bound=BaseModel)


class VeracityError(Exception):
    """A Veracity request failed; `message` is for a person."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "",
                 limit: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        # Which of Veracity's limits the request went past (its Veracity-Limit header), if any.
        self.limit = limit


class VeracityUnavailable(VeracityError):
    """Veracity could not be reached or failed (5xx) even after retries."""


class KeyRevoked(VeracityError):
    """Veracity refused the connector key (revoked, unknown or malformed)."""


class PairingRejected(VeracityError):
    """The one-time token was refused (`code`: token_invalid, token_expired, token_used)."""


class VeracityRateLimited(VeracityError):
    """Veracity asked us to slow down; `retry_after_s` says for how long."""

    def __init__(self, message: str, *, retry_after_s: float, status: int = 429,
                 code: str = "rate_limited", limit: str = "") -> None:
        super().__init__(message, status=status, code=code, limit=limit)
        self.retry_after_s = retry_after_s


class VeracityAnswerLost(VeracityUnavailable):
    """The request was sent but its answer was cut off: it may or may not have taken effect."""


class VeracityRedirected(VeracityUnavailable):
    """Veracity's address answered with a redirect (never followed: the request carries a key)."""

    def __init__(self, message: str, *, status: int, target: str) -> None:
        super().__init__(message, status=status)
        self.target = target


class RequestRejected(VeracityError):
    """Veracity rejected the request as invalid (4xx other than 401/429): not retried."""


@dataclass(frozen=True)
class Schedule:
    """Intervals the server asks for (heartbeat and exchange answers)."""

    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    snapshot_interval_s: float = DEFAULT_SNAPSHOT_INTERVAL_S

    @classmethod
    def from_answer(cls, answer: HeartbeatAnswer | ExchangeAnswer,
                    previous: Schedule | None = None) -> Schedule:
        """Read the intervals from a server answer, keeping sane values only."""
        base = previous or cls()
        return cls(
            heartbeat_interval_s=_positive(answer.heartbeat_interval_s,
                                           base.heartbeat_interval_s),
            snapshot_interval_s=_positive(answer.snapshot_interval_s,
                                          base.snapshot_interval_s),
        )


@dataclass(frozen=True)
class Pairing:
    """What a successful exchange returns. `connector_key` is a secret: never log it."""

    connector_id: str
    connector_key: str
    schedule: Schedule
    account_id: str  # the Veracity account (opaque, stable): who the snapshots go to

    def __repr__(self) -> str:
        return (f"Pairing(connector_id={self.connector_id!r}, connector_key='***', "
                f"account_id={self.account_id!r})")


def interpret_answer(response: requests.Response) -> dict[str, Any]:
    """The body of a good (2xx JSON object) answer; else raises the failure class it means."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if 300 <= status < 400:
        target = response.headers.get("Location") or "an address it did not give"
        raise VeracityRedirected(
            f"Veracity answered with a redirect to {target}: check the Veracity address in "
            "Settings", status=status, target=target)
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise VeracityUnavailable(
                f"the answer is not Veracity's ({answered_by(response)})", status=status)
        return body
    error = contract_error(body)
    limit = response.headers.get(LIMIT_HEADER, "")[:LIMIT_NAME_MAX_LENGTH] if error else ""
    if status == 429:
        raise VeracityRateLimited(error[1] if error else f"Veracity answered HTTP {status}",
                                  retry_after_s=_retry_after_s(response),
                                  code=error[0] if error else "rate_limited", limit=limit)
    if error is None or status >= 500 or status == 407:
        # Not Veracity's words (a proxy, a captive portal, a load balancer), or Veracity failed.
        what = "a proxy asks for credentials" if status == 407 else (
            "Veracity failed" if error is not None else "the answer is not Veracity's")
        raise VeracityUnavailable(f"{what} ({answered_by(response)})", status=status,
                                  code=error[0] if error else "")
    code, message = error
    if status == 401 and code == "invalid_key":
        raise KeyRevoked(message, status=status, code=code)
    if status == 401 and code.startswith("token_"):
        raise PairingRejected(message, status=status, code=code)
    if status in (401, 403):
        # Veracity's own words, but not about the key: nothing to delete.
        raise VeracityUnavailable(f"Veracity refused access: {message} ({code}, HTTP {status})",
                                  status=status, code=code)
    raise RequestRejected(message, status=status, code=code, limit=limit)


def contract_error(body: Any) -> tuple[str, str] | None:
    """(code, message) if `body` is the contract's error body, else None."""
    error = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
    if not isinstance(error, dict):
        return None
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not isinstance(message, str) or not re.fullmatch(
            r"[a-z][a-z0-9_]{0,63}", code):
        return None
    return code, message


ANSWER_WORDS = 12
ANSWER_CHARACTERS = 120


def answered_by(response: requests.Response) -> str:
    """What answered, for a person: 'HTTP 401 from nginx: "401 Authorization Required …"'."""
    server = response.headers.get("Server")
    text = response.text if response.content else ""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    words = re.sub(r"<[^>]*>", " ", text).split()
    excerpt = " ".join(words[:ANSWER_WORDS])[:ANSWER_CHARACTERS]
    if len(words) > ANSWER_WORDS or len(excerpt) == ANSWER_CHARACTERS:
        excerpt += " …"
    return (f"HTTP {response.status_code}" + (f" from {server[:60]}" if server else "")
            + (f': "{excerpt}"' if excerpt else ", empty body"))


def _retry_after_s(response: requests.Response) -> float:
    """Retry-After in seconds (a number or an HTTP date), or a minute when absent or odd."""
    value = response.headers.get("Retry-After")
    try:
        seconds = Retry().parse_retry_after(value) if value else 0.0
    except InvalidHeader:
        seconds = 0.0
    return _positive(seconds, DEFAULT_RATE_LIMIT_WAIT_S)


def read_answer(model: type[AnswerModel], body: dict[str, Any], what: str) -> AnswerModel:
    """`body` read with the contract's answer model; VeracityUnavailable if it does not fit."""
    try:
        return model.model_validate(body)
    except ValidationError:
        raise VeracityUnavailable(f"Veracity's {what} answer does not follow the contract") \
            from None


def _positive(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default

