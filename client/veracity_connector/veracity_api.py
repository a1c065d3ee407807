"""Client for Veracity's connector API (HTTP contract v1): exchange, heartbeat, snapshots.

Failure classes decide what happens next (ActivityWatch's lesson):

* connection errors and 5xx → retried here a few times with backoff, then `VeracityUnavailable`
  (the engine keeps snapshots in the outbox and tries again later);
* 401 `invalid_key` → `KeyRevoked` (the engine deletes the key and asks for a new token);
* 401 on exchange (`token_invalid | token_expired | token_used`) → `PairingRejected`;
* 429 → `VeracityRateLimited` carrying `Retry-After`;
* any other 4xx → `RequestRejected`, never retried (sending it again would fail the same way).

Exchange is only retried when the request surely did not reach the server (connection refused):
a one-time token must not be spent by a retry whose first answer was lost.
Keys never appear in logs or messages. Veracity must be https unless it is on loopback.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from veracity_connector.gateway.transport import is_loopback_host

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL_S = 60
DEFAULT_SNAPSHOT_INTERVAL_S = 120


class VeracityError(Exception):
    """A Veracity request failed; `message` is for a person."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class VeracityUnavailable(VeracityError):
    """Veracity could not be reached or failed (5xx) even after retries."""


class KeyRevoked(VeracityError):
    """Veracity refused the connector key (revoked, unknown or malformed)."""


class PairingRejected(VeracityError):
    """The one-time token was refused (`code`: token_invalid, token_expired, token_used)."""


class VeracityRateLimited(VeracityError):
    """Veracity asked us to slow down; `retry_after_s` says for how long."""

    def __init__(self, message: str, *, retry_after_s: float, status: int = 429,
                 code: str = "rate_limited") -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after_s = retry_after_s


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
    latest_version: str | None = None

    @classmethod
    def from_answer(cls, body: dict[str, Any], previous: Schedule | None = None) -> Schedule:
        """Read the intervals from a server answer, keeping sane values only."""
        base = previous or cls()
        return cls(
            heartbeat_interval_s=_positive(body.get("heartbeat_interval_s"),
                                           base.heartbeat_interval_s),
            snapshot_interval_s=_positive(body.get("snapshot_interval_s"),
                                          base.snapshot_interval_s),
            latest_version=body.get("latest_version") or base.latest_version,
        )


@dataclass(frozen=True)
class Pairing:
    """What a successful exchange returns. `connector_key` is a secret: never log it."""

    connector_id: str
    connector_key: str
    schedule: Schedule

    def __repr__(self) -> str:
        return f"Pairing(connector_id={self.connector_id!r}, connector_key='***')"


class VeracityClient:
    """Talks to one Veracity server with retries, timeouts and clear failure classes."""

    def __init__(self, base_url: str, *, timeout_s: float = 15.0, retries: int = 3,
                 backoff_s: float = 1.0, stop_event: threading.Event | None = None,
                 user_agent: str = "veracity-ibkr-connector") -> None:
        self.base_url = validate_veracity_url(base_url)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.request_count = 0
        self._stop_event = stop_event or threading.Event()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = user_agent
        self._session.headers["Accept"] = "application/json"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def exchange(self, token: str, device: dict[str, Any]) -> Pairing:
        """Trade a one-time token for a connector key (never retried once sent)."""
        body = self._post("/api/v1/connector/exchange", {"token": token, "device": device},
                          key=None, idempotent=False)
        try:
            return Pairing(str(body["connector_id"]), str(body["connector_key"]),
                           Schedule.from_answer(body))
        except (KeyError, TypeError):
            raise VeracityUnavailable("Veracity's pairing answer is incomplete") from None

    def heartbeat(self, key: str, body: dict[str, Any]) -> Schedule:
        """Send a heartbeat; returns the schedule the server asks for."""
        return Schedule.from_answer(self._post("/api/v1/connector/heartbeat", body, key=key))

    def send_snapshot(self, key: str, payload: dict[str, Any] | str) -> bool:
        """Send a snapshot (dict or JSON text); True when the server already had it."""
        answer = self._post("/api/v1/connector/snapshots", payload, key=key)
        return bool(answer.get("duplicate"))

    # --- the chokepoint -------------------------------------------------------------------

    def _post(self, path: str, payload: dict[str, Any] | str, *, key: str | None,
              idempotent: bool = True) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        data = payload if isinstance(payload, str) else json_dumps(payload)
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                self.request_count += 1
                response = self._session.post(url, data=data.encode("utf-8"), headers=headers,
                                              timeout=self.timeout_s)
            except requests.exceptions.ConnectionError as error:
                sent = not _never_connected(error)
                failure = VeracityUnavailable(f"cannot reach Veracity at {self.base_url}")
                if attempt > self.retries or (sent and not idempotent):
                    raise failure from None
            except requests.exceptions.Timeout:
                failure = VeracityUnavailable(
                    f"Veracity did not answer within {self.timeout_s:g} s")
                if attempt > self.retries or not idempotent:
                    raise failure from None
            else:
                if response.status_code < 500:
                    return _interpret(response)
                failure = VeracityUnavailable(
                    f"Veracity failed with HTTP {response.status_code}",
                    status=response.status_code)
                if attempt > self.retries or not idempotent:
                    raise failure
            delay = self.backoff_s * (2 ** (attempt - 1))
            logger.info("%s; retrying in %.1f s", failure.message, delay)
            if self._stop_event.wait(delay):
                raise failure


def _interpret(response: requests.Response) -> dict[str, Any]:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise VeracityUnavailable(f"Veracity answered HTTP {status} without a JSON object",
                                      status=status)
        return body
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    message = message or f"Veracity answered HTTP {status}"
    if status == 401 and code.startswith("token_"):
        raise PairingRejected(message, status=status, code=code)
    if status == 401:
        raise KeyRevoked(message, status=status, code=code or "invalid_key")
    if status == 429:
        retry_after = _positive(response.headers.get("Retry-After"), 60.0)
        raise VeracityRateLimited(message, retry_after_s=retry_after)
    raise RequestRejected(message, status=status, code=code)


def _never_connected(error: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never made (so the request was surely not sent)."""
    text = repr(error)
    return any(marker in text for marker in (
        "NewConnectionError", "Connection refused", "Failed to establish", "NameResolution"))


def _positive(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def json_dumps(payload: dict[str, Any]) -> str:
    """Compact JSON text of a payload (numbers already decimal strings)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
