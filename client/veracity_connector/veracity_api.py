"""Client for Veracity's connector API (HTTP contract v1): exchange, heartbeat, snapshots.

What each answer means — the failure classes (`KeyRevoked`, `VeracityUnavailable`, …) — is
`veracity_answers`; they are importable from here too. This module sends the requests:

* connection errors, read timeouts and 502/503/504 → retried here a few times (urllib3's `Retry`
  on requests' `HTTPAdapter`: backoff with jitter, `Retry-After` respected), then
  `VeracityUnavailable` (the engine keeps snapshots in the outbox and tries again later); other
  5xx → `VeracityUnavailable` at once; an answer cut off half-way → `VeracityAnswerLost`;
* redirects are never followed: the request carries the key (or a token), which must go nowhere
  else (`VeracityRedirected`).

Heartbeats and snapshots are idempotent by contract (a snapshot carries its `snapshot_id`), and
the exchange by its `idempotency_key` (a repeat gets the same connector), so all are retried
after a lost answer too. Waits between attempts end at once when the engine stops.
Keys never appear in logs or messages. Veracity must be https unless it is on loopback.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import urlsplit

import requests
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
from veracity_connector.veracity_answers import (
    KeyRevoked,
    Pairing,
    PairingRejected,
    RequestRejected,
    Schedule,
    VeracityAnswerLost,
    VeracityError,
    VeracityRateLimited,
    VeracityRedirected,
    VeracityUnavailable,
    answered_by,
    interpret_answer,
    read_answer,
)
from veracity_contract.connector import HeartbeatAnswer, SnapshotAnswer
from veracity_contract.daily_history import DailyHistoryAnswer
from veracity_contract.pairing import ExchangeAnswer

# The answers' names stay importable from here, where callers and tests find them.
__all__ = [
    "KeyRevoked",
    "Pairing",
    "PairingRejected",
    "QuickRetry",
    "RequestRejected",
    "RetryWaitEnded",
    "Schedule",
    "VeracityAnswerLost",
    "VeracityClient",
    "VeracityConfigurationError",
    "VeracityError",
    "VeracityRateLimited",
    "VeracityRedirected",
    "VeracityUnavailable",
    "answered_by",
    "json_dumps",
    "validate_veracity_url",
]

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({502, 503, 504})  # a proxy or server briefly away
EXCHANGE_PATH = "/api/v1/connector/exchange"
DAILY_HISTORY_PATH = "/api/v1/connector/history/daily"


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
        answer = read_answer(ExchangeAnswer, self._post(
            EXCHANGE_PATH, {"token": token, "device": device,
                            "idempotency_key": idempotency_key or str(uuid.uuid4())},
            key=None), "pairing")
        return Pairing(answer.connector_id, answer.connector_key, Schedule.from_answer(answer),
                       answer.account_id)

    def heartbeat(self, key: str, body: dict[str, Any]) -> Schedule:
        """Send a heartbeat; returns the schedule the server asks for."""
        answer = read_answer(HeartbeatAnswer,
                             self._post("/api/v1/connector/heartbeat", body, key=key),
                             "heartbeat")
        return Schedule.from_answer(answer)

    def send_snapshot(self, key: str, payload: dict[str, Any] | str) -> bool:
        """Send a snapshot (dict or JSON text); True when the server already had it."""
        answer = read_answer(SnapshotAnswer,
                             self._post("/api/v1/connector/snapshots", payload, key=key),
                             "snapshot")
        return answer.duplicate

    def send_history(self, key: str, payload: dict[str, Any] | str) -> DailyHistoryAnswer:
        """Send a batch of daily history points; idempotent per account, day and source."""
        return read_answer(DailyHistoryAnswer,
                           self._post(DAILY_HISTORY_PATH, payload, key=key), "daily history")

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
        return interpret_answer(response)

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


def json_dumps(payload: dict[str, Any]) -> str:
    """Compact JSON text of a payload (numbers already decimal strings)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
