"""Alert webhooks, signed per Standard Webhooks with the `standardwebhooks` library.

Each POST carries `webhook-id` (the delivery's id, the same on every retry: the receiver's
idempotency key), `webhook-timestamp` (this attempt, Unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the user's `whsec_` secret). Success is
any 2xx; redirects are not followed (a 3xx is a failure); 410 Gone stops retrying; 429 and 503
may say Retry-After. Receivers verify with `standardwebhooks.Webhook(secret).verify(body,
headers)` (docs/alerts.md).

Unless VERACITY_ALERTS_WEBHOOK_ALLOW_PRIVATE is on, only https URLs whose host resolves to
public addresses are called, so a user cannot point Veracity's worker at the operator's own
network (SSRF). The address is checked just before each attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from standardwebhooks import Webhook

from veracity_server.alerts.deliveries import Outcome
from veracity_server.alerts.model import AlertDelivery

USER_AGENT = "Veracity-Webhooks/1"


def url_problem(url: str, allow_private: bool, resolve: bool = True) -> str | None:
    """Why `url` may not be called, or None."""
    parts = urlsplit(url)
    allowed_schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed_schemes or not parts.hostname:
        return ("the URL must start with https://" if not allow_private
                else "the URL must start with http:// or https://")
    if parts.username or parts.password:
        return "the URL must not hold a user name or password"
    if allow_private or not resolve:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(
            parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError) as error:
        return f"cannot resolve {parts.hostname}: {error}"
    for address in addresses:
        if not ipaddress.ip_address(str(address).split("%")[0]).is_global:
            return f"{parts.hostname} resolves to a non-public address ({address})"
    return None


def signed_headers(secret: str, message_id: str, body: bytes,
                   moment: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` (plus the content type)."""
    timestamp = (moment or datetime.now(UTC)).astimezone(UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def retry_after_s(response: requests.Response) -> float | None:
    """A Retry-After of whole seconds (dates are rare from webhooks' receivers; ignored)."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def send_webhook(delivery: AlertDelivery, secret: str | None, timeout_s: float,
                 allow_private: bool) -> Outcome:
    """POST one signed delivery; an Outcome says whether, and whether to retry."""
    if not secret:
        return Outcome(False, error="no webhook secret: generate one on the Profile page",
                       permanent=True)
    problem = url_problem(delivery.target, allow_private)
    if problem is not None:
        return Outcome(False, error=problem, permanent=True)
    try:
        response = requests.post(delivery.target, data=delivery.body,
                                 headers=signed_headers(secret, delivery.message_id,
                                                        delivery.body),
                                 timeout=timeout_s, allow_redirects=False)
    except requests.RequestException as error:
        return Outcome(False, error=f"{type(error).__name__}: {error}"[:500])
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status_code=status)
    return Outcome(False, status_code=status, error=f"HTTP {status}",
                   permanent=status == 410, retry_after_s=retry_after_s(response))
