"""Client for Veracity's connector API (HTTP contract v1): exchange, heartbeat, snapshots.

Failure classes decide what happens next (ActivityWatch's lesson):

* connection errors, read timeouts and 502/503/504 → retried here a few times (urllib3's `Retry`
  on requests' `HTTPAdapter`: backoff with jitter, `Retry-After` respected), then
  `VeracityUnavailable` (the engine keeps snapshots in the outbox and tries again later); other
  5xx → `VeracityUnavailable` at once; an answer cut off half-way → `VeracityAnswerLost`;
* 401 with the contract's error body and code `invalid_key` → `KeyRevoked` — the only answer
  that means "Veracity refused the key";
* 401 on exchange (`token_invalid | token_expired | token_used`) → `PairingRejected`;
* 429 → `VeracityRateLimited` carrying `Retry-After`;
* another 4xx with the contract's error body → `RequestRejected`, never retried (sending it
  again would fail the same way);
* anything not shaped like Veracity's answers — 401/403/407 from a proxy or captive portal, an
  HTML page, JSON of another shape, a 2xx without JSON — → `VeracityUnavailable` saying what
  answered (`answered_by`: status, Server header, the body's first words): key and outbox kept;
* a redirect → `VeracityRedirected` (a `VeracityUnavailable`) naming its target. Redirects are
  never followed: the request carries the key (or a token), which must go nowhere else.

Heartbeats and snapshots are idempotent by contract (a snapshot carries its `snapshot_id`), and
the exchange by its `idempotency_key` (a repeat gets the same connector), so all are retried
after a lost answer too. Waits between attempts end at once when the engine stops.
Answers are read with the contract's models (`veracity_contract`).
Keys never appear in logs or messages. Veracity must be https unless it is on loopback.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, ReadTimeoutError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from veracity_connector.gateway.transport import is_loopback_host
from veracity_connector.proxies import (
    PROXY_AUTHENTICATION_REQUIRED,
    proxy_problem,
    request_proxies,
)
from veracity_contract.connector import HeartbeatAnswer, SnapshotAnswer
from veracity_contract.pairing import ExchangeAnswer

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL_S = 60
DEFAULT_SNAPSHOT_INTERVAL_S = 120
DEFAULT_RATE_LIMIT_WAIT_S = 60.0  # a 429 without a usable Retry-After
# Veracity names the limit a 413/429 `limit_exceeded` went past (docs/contract.md, Limits).
LIMIT_HEADER = "Veracity-Limit"
LIMIT_NAME_MAX_LENGTH = 64
RETRIED_STATUSES = frozenset({502, 503, 504})  # a proxy or server briefly away
EXCHANGE_PATH = "/api/v1/connector/exchange"

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


class VeracityConfigurationError(ValueError):
    """The Veracity URL is not acceptable."""


def validate_veracity_url(url: str) -> str:
    """Return the normalised base URL; https is required unless the host is loopback."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise VeracityConfigurationError(
            f"the Veracity URL {url!r} must look like https://veracity.example.com")
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise VeracityConfigurationError(
            f"the Veracity URL {url!r} must use https (plain http is only allowed on localhost)")
    if parts.query or parts.fragment:
        raise VeracityConfigurationError(f"the Veracity URL {url!r} must not have ?query or #")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


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


class RetryWaitEnded(Exception):
    """A wait between attempts ended without a retry (stop(), or a longer wait than allowed).

    Not an OSError or urllib3 error, so urllib3 and requests let it through unchanged.
    """


class QuickRetry(Retry):
    """urllib3's `Retry` with waits that `stop()` interrupts and that count the attempts.

    Only `status_forcelist` is retried: a 429 goes back to the engine at once, which waits as
    long as Veracity asks without holding a request open.
    """

    stop_event: threading.Event | None = None
    on_retry: Callable[[], None] | None = None
    max_wait_s: float = 30.0

    def new(self, **kw: Any) -> Self:
        """A copy with `kw` changed (urllib3 makes one per attempt); keeps our hooks."""
        retry = super().new(**kw)
        retry.stop_event, retry.on_retry = self.stop_event, self.on_retry
        retry.max_wait_s = self.max_wait_s
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Retry the listed statuses only (not every status that carries Retry-After)."""
        return super().is_retry(method, status_code, has_retry_after) and (
            status_code in (self.status_forcelist or ()))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait as Veracity's Retry-After says, else the backoff; end early on stop()."""
        wait = None
        if response is not None and self.respect_retry_after_header:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:
                wait = None
        if not wait:
            wait = self.get_backoff_time()
        if wait > self.max_wait_s:
            raise RetryWaitEnded(f"Veracity asks to try again in {wait:.0f} s")
        logger.info("retrying the Veracity request in %.1f s", wait)
        if self.stop_event is not None and self.stop_event.wait(wait):
            raise RetryWaitEnded("stopped while waiting to retry")
        if self.on_retry is not None:
            self.on_retry()


class VeracityClient:
    """Talks to one Veracity server with retries, timeouts and clear failure classes."""

    def __init__(self, base_url: str, *, timeout_s: float = 15.0, retries: int = 3,
                 backoff_s: float = 1.0, stop_event: threading.Event | None = None,
                 proxy: str | None = None,
                 user_agent: str = "veracity-ibkr-connector") -> None:
        self.base_url = validate_veracity_url(base_url)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.request_count = 0  # attempts actually made, retries included
        self._stop_event = stop_event or threading.Event()
        self._session = requests.Session()
        self._proxies = request_proxies(proxy)  # None: the environment's or system's proxy
        self._session.headers["User-Agent"] = user_agent
        self._session.headers["Accept"] = "application/json"
        # Every call is idempotent (snapshot_id; the exchange's idempotency_key): a read error
        # or a 502/503/504 is retried like a refused connection.
        self._session.mount(self.base_url + "/", HTTPAdapter(max_retries=self._retry(
            read=retries, status=retries, allowed_methods=frozenset({"POST"}),
            status_forcelist=RETRIED_STATUSES)))

    def _retry(self, **policy: Any) -> QuickRetry:
        # Connection errors are retried for every call: the request was never sent. Anything
        # else that may have reached the server ("other") is not.
        retry = QuickRetry(total=self.retries, connect=self.retries, other=0,
                           backoff_factor=self.backoff_s, backoff_jitter=self.backoff_s,
                           raise_on_status=False, respect_retry_after_header=True, **policy)
        retry.stop_event = self._stop_event
        retry.on_retry = self._count_request
        return retry

    def _count_request(self) -> None:
        self.request_count += 1

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def exchange(self, token: str, device: dict[str, Any],
                 idempotency_key: str | None = None) -> Pairing:
        """Trade a one-time token for a connector key.

        The same `idempotency_key` again (an answer was lost) gets the same connector back;
        without one, a fresh key covers this call's own retries.
        """
        answer = _read(ExchangeAnswer, self._post(
            EXCHANGE_PATH, {"token": token, "device": device,
                            "idempotency_key": idempotency_key or str(uuid.uuid4())},
            key=None), "pairing")
        return Pairing(answer.connector_id, answer.connector_key, Schedule.from_answer(answer),
                       answer.account_id)

    def heartbeat(self, key: str, body: dict[str, Any]) -> Schedule:
        """Send a heartbeat; returns the schedule the server asks for."""
        answer = _read(HeartbeatAnswer, self._post("/api/v1/connector/heartbeat", body, key=key),
                       "heartbeat")
        return Schedule.from_answer(answer)

    def send_snapshot(self, key: str, payload: dict[str, Any] | str) -> bool:
        """Send a snapshot (dict or JSON text); True when the server already had it."""
        answer = _read(SnapshotAnswer, self._post("/api/v1/connector/snapshots", payload,
                                                  key=key), "snapshot")
        return answer.duplicate

    # --- the chokepoint -------------------------------------------------------------------

    def _post(self, path: str, payload: dict[str, Any] | str, *,
              key: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        data = payload if isinstance(payload, str) else json_dumps(payload)
        self.request_count += 1
        try:
            response = self._session.post(f"{self.base_url}{path}", data=data.encode("utf-8"),
                                          headers=headers, timeout=self.timeout_s,
                                          allow_redirects=False, proxies=self._proxies,
                                          stream=True)
            if response.status_code == 407:
                # A proxy wants a password. tinyproxy and others answer before reading the
                # body and drop the connection, so reading on would look like a lost answer.
                response.close()
                raise VeracityUnavailable(f"cannot reach Veracity at {self.base_url}: "
                                          f"{PROXY_AUTHENTICATION_REQUIRED}", status=407)
            response.content  # noqa: B018 (read it all here, where its failures are caught)
        except RetryWaitEnded as ended:
            raise VeracityUnavailable(f"Veracity is unavailable ({ended})") from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError):
            # The headers came, the body did not: the server may have acted on the request.
            raise VeracityAnswerLost("Veracity's answer was cut off half-way") from None
        except requests.RequestException as error:
            raise VeracityUnavailable(self._unreachable_message(error)) from None
        return _interpret(response)

    def _unreachable_message(self, error: requests.RequestException) -> str:
        # Retries exhausted on read timeouts arrive as a ConnectionError around MaxRetryError.
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(error, requests.exceptions.ReadTimeout) or isinstance(
                reason, ReadTimeoutError):
            return f"Veracity did not answer within {self.timeout_s:g} s"
        through_proxy = proxy_problem(error)
        if through_proxy:
            return f"cannot reach Veracity at {self.base_url}: {through_proxy}"
        return f"cannot reach Veracity at {self.base_url}"


def _interpret(response: requests.Response) -> dict[str, Any]:
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


def _read(model: type[AnswerModel], body: dict[str, Any], what: str) -> AnswerModel:
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


def json_dumps(payload: dict[str, Any]) -> str:
    """Compact JSON text of a payload (numbers already decimal strings)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
