"""The one chokepoint for every request to the IBKR Client Portal Gateway.

One `requests.Session`; the gateway must be on loopback (it runs on the person's own machine)
unless the person explicitly allows one other host AND gives the CA file that signs its
certificate. Loopback TLS is not verified (the gateway's certificate is self-signed), and the
InsecureRequestWarning that would otherwise be logged on every call is suppressed for this
session only, by its own connection pool class, never through the global warnings filters.
Every call: a pacing slot first (`Pacer`), a timeout, JSON parsed with Decimal for numbers, and
failures turned into `GatewayError` subclasses with a message a person can act on.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import ssl
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from veracity_connector.gateway.errors import (
    GatewayAccessDenied,
    GatewayConfigurationError,
    GatewayNoBridge,
    GatewayNotAuthenticated,
    GatewayProtocolError,
    GatewayRateLimited,
    GatewayServerError,
    GatewayUnreachable,
)
from veracity_connector.gateway.pacing import Pacer

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/api"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _QuietLoopbackHTTPSPool(HTTPSConnectionPool):
    """An HTTPS pool that does not warn about the unverified, self-signed loopback gateway."""

    def _validate_conn(self, conn: Any) -> None:
        # Skip HTTPSConnectionPool's version (which only adds the warning) and connect early,
        # as it would.
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


class _LoopbackGatewayAdapter(HTTPAdapter):
    """Transport adapter whose HTTPS pools are the quiet loopback ones."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # One TLS context for every connection. Without it, urllib3 builds a context per new
        # connection and loads the system's CA bundle into it (~80 ms of CPU each) although
        # nothing is verified on loopback; the gateway closes connections often.
        kwargs["ssl_context"] = _unverified_loopback_context()
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": HTTPConnectionPool, "https": _QuietLoopbackHTTPSPool}


def _unverified_loopback_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed gateway certificate, loopback only
    return context


@dataclass(frozen=True)
class GatewayAddress:
    """A validated gateway base URL (scheme://host:port) and how to check its TLS."""

    base_url: str
    host: str
    port: int
    verify: bool | str  # False for loopback (self-signed), else the CA file's path

    @classmethod
    def parse(cls, url: str, *, allowed_host: str | None = None,
              ca_file: Path | None = None) -> GatewayAddress:
        """Validate `url`; a non-loopback host needs `allowed_host` equal to it and a CA file."""
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise GatewayConfigurationError(
                f"gateway URL {url!r} must look like https://localhost:5000")
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise GatewayConfigurationError(f"gateway URL {url!r} has an invalid port") from None
        if is_loopback_host(host):
            verify: bool | str = False
        else:
            if not allowed_host or allowed_host.lower() != host.lower():
                raise GatewayConfigurationError(
                    f"the gateway must run on this machine (localhost), not {host!r}; to use "
                    "another host on purpose, set IBKR_GATEWAY_ALLOWED_HOST to it and "
                    "IBKR_GATEWAY_CA_FILE to the CA file that signs its certificate")
            if parts.scheme != "https":
                raise GatewayConfigurationError(f"a gateway on {host!r} must use https")
            if ca_file is None or not Path(ca_file).is_file():
                raise GatewayConfigurationError(
                    f"a gateway on {host!r} needs IBKR_GATEWAY_CA_FILE naming an existing CA file")
            verify = str(ca_file)
        netloc = f"[{host}]" if ":" in host else host
        return cls(f"{parts.scheme}://{netloc}:{port}", host, port, verify)


class GatewayTransport:
    """Sends paced, timed-out requests to the gateway and classifies what comes back."""

    def __init__(self, address: GatewayAddress, pacer: Pacer, *, timeout_s: float = 10.0) -> None:
        self.address = address
        self.pacer = pacer
        self.timeout_s = timeout_s
        self.request_count = 0  # for benchmarks: requests actually sent
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "veracity-ibkr-connector"
        self._session.verify = address.verify
        # Never pick up proxies from the environment: the gateway is local.
        self._session.trust_env = False
        if address.verify is False:
            self._session.mount("https://", _LoopbackGatewayAdapter())

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json_body: Any = None) -> Any:
        """Send one paced request to `/v1/api{path}`; return the parsed JSON body."""
        self.pacer.acquire(path)
        self.request_count += 1
        try:
            response = self._send(method, f"{self.address.base_url}{API_PREFIX}{path}", params,
                                  json_body)
        finally:
            self.pacer.completed(path)
        return self._interpret(method, path, response)

    def _send(self, method: str, url: str, params: dict[str, Any] | None,
              json_body: Any) -> requests.Response:
        try:
            return self._session.request(method, url, params=params, json=json_body,
                                         timeout=self.timeout_s)
        except requests.exceptions.SSLError as error:
            raise GatewayUnreachable(
                f"TLS to the gateway at {self.address.base_url} failed "
                f"({error.__class__.__name__}); check that the URL uses https and the right "
                "port") from None
        except requests.exceptions.ConnectionError:
            raise GatewayUnreachable(
                f"nothing answers at {self.address.base_url}: start the IBKR gateway, or check "
                "that its port (listenPort in root/conf.yaml) matches") from None
        except requests.exceptions.Timeout:
            raise GatewayUnreachable(
                f"the gateway at {self.address.base_url} did not answer within "
                f"{self.timeout_s:g} s") from None
        except requests.exceptions.RequestException as error:
            raise GatewayUnreachable(
                f"request to the gateway failed: {error.__class__.__name__}") from None

    def _interpret(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        body = _parse_json(response)
        if status == 429:
            retry_after = _retry_after_s(response)
            backoff = self.pacer.rate_limited(retry_after)
            raise GatewayRateLimited(
                f"the gateway is pacing us (429); waiting {backoff:.0f} s before the next request",
                status=status)
        if 200 <= status < 300:
            self.pacer.succeeded()
            if body is _NOT_JSON:
                raise GatewayProtocolError(f"{method} {path}: the gateway's answer is not JSON",
                                           status=status)
            return body
        error_text = _error_text(body)
        logger.debug("gateway %s %s → %s %s", method, path, status, error_text)
        if status == 401:
            raise GatewayNotAuthenticated(
                "the gateway is not logged in: open its address in a browser and log in",
                status=status)
        if status == 400 and "no bridge" in error_text.lower():
            raise GatewayNoBridge("the gateway has no brokerage session yet (\"no bridge\")",
                                  status=status)
        if status == 403 or (status == 404 and "access denied" in response.text[:200].lower()):
            raise GatewayAccessDenied(
                "the gateway refused this computer's address: add 127.0.0.1 to ips.allow in "
                "the gateway's root/conf.yaml and restart it", status=status)
        if status >= 500:
            raise GatewayServerError(f"the gateway failed with HTTP {status}", status=status)
        raise GatewayProtocolError(f"{method} {path}: unexpected HTTP {status} {error_text}",
                                   status=status)


_NOT_JSON = object()


def _parse_json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return _NOT_JSON


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")[:200]
    return ""


def _retry_after_s(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
