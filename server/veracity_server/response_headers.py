"""Headers every answer gets: no caching of anything private, and the browser's safety switches.

ONE after-request rule for the whole app (`apply_response_headers`), so a new route cannot
forget it: every answer is `Cache-Control: no-store` unless its endpoint is listed in
`SHAREABLE_ENDPOINTS` — answers that are the same for everyone and carry no token, key, CSRF
token, session or portfolio data. A shared cache (a corporate proxy, a CDN) or the browser's
back button must never hand out a pairing token, a connector key or a portfolio, so the default
is the safe one and the list is of exceptions (tests/server/test_response_headers.py checks
every route of the app against it).

The API's JSON answers also get a Content-Security-Policy that forbids everything (nothing in a
JSON answer should ever run or be framed); the HTML pages set their own, richer one
(pages/security.py), which is kept. HSTS is nginx's (deploy/nginx), which terminates TLS.
"""

from __future__ import annotations

from flask import Flask, Response, request

# Endpoints whose answers are the same for every caller and hold nothing secret.
SHAREABLE_ENDPOINTS = frozenset({
    "health.healthz",
    "health.readyz",
    "openapi_document",
    "pages.static",
    "static",
    "downloads.release_metadata",
    "downloads.installer",
    "downloads.update_feed_index",
    "downloads.update_feed_package",
})
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": API_CONTENT_SECURITY_POLICY,
}


def apply_response_headers(response: Response) -> Response:
    """no-store unless the endpoint is shareable; the security headers where none are set."""
    if request.endpoint not in SHAREABLE_ENDPOINTS:
        # Replaces whatever a view set: private answers are never stored anywhere.
        response.headers["Cache-Control"] = "no-store"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_response_headers(app: Flask) -> None:
    """Install the rule on `app`."""
    app.after_request(apply_response_headers)
