"""Which proxy Veracity's traffic goes through (the gateway's never does: it is on loopback).

* `proxy` setting unset (the default): what the machine says. requests reads `HTTPS_PROXY`,
  `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment and, through
  `urllib.request.getproxies()`, the Windows system proxy from the registry (Internet Options:
  `ProxyServer`, with `ProxyOverride` as the bypass list) when the environment names none.
  Automatic configuration scripts (PAC/WPAD) are not evaluated: set the proxy explicitly then.
* `proxy = none`: a direct connection, whatever the environment or the system say.
* `proxy = http://[user:password@]host:port`: this proxy, whatever the environment or the
  system say (`NO_PROXY` included).

The gateway's transport never looks at any of this (`trust_env` off): a corporate proxy must
not see, or break, the loopback traffic with IBKR's gateway.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

PROXY_NONE = "none"
PROXY_AUTHENTICATION_REQUIRED = (
    "the proxy asks for a user name and password (407 Proxy Authentication Required): put them "
    "in the proxy address (http://user:password@host:port) in IBKR_CONNECTOR_PROXY, or ask your "
    "IT department")


def validate_proxy_setting(value: str) -> str:
    """`none` or a proxy URL (http/https/socks5 with a host and port); ValueError otherwise."""
    text = value.strip()
    if text.lower() == PROXY_NONE:
        return PROXY_NONE
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https", "socks5", "socks5h"} or not parts.hostname:
        raise ValueError("must be 'none' or a proxy address like http://proxy.example.com:3128")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    if port is None:
        raise ValueError("must name the proxy's port, e.g. http://proxy.example.com:3128")
    return text


def request_proxies(setting: str | None) -> dict[str, Any] | None:
    """The `proxies=` for each Veracity request: None leaves the choice to the environment.

    Per request, not on the session: requests lets the environment's proxies override a
    session's, but not a request's; a `None` value means "no proxy" for that scheme.
    """
    if not setting:
        return None
    if setting == PROXY_NONE:
        return {"http": None, "https": None}
    return {"http": setting, "https": setting}


def proxy_problem(error: requests.RequestException) -> str | None:
    """A person's words for a proxy that failed the request, or None if no proxy did."""
    if not isinstance(error, requests.exceptions.ProxyError):
        return None
    text = str(error)
    if "407" in text:
        return PROXY_AUTHENTICATION_REQUIRED
    return "the proxy could not be reached or refused the connection: check the proxy setting"


def describe_proxy(setting: str | None) -> str:
    """The proxy choice for `doctor` and logs, without any password."""
    if not setting:
        return "the system's (environment variables, or Windows' Internet Options)"
    if setting == PROXY_NONE:
        return "none (direct connection)"
    parts = urlsplit(setting)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"
