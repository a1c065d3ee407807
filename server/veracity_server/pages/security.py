"""Security headers for the HTML pages, and safe redirect targets.

The policy allows only our own scripts, styles and images (no inline script, no CDN), no
framing, and form posts and fetches only to this origin. Server-side SVG charts are inline
markup, which `default-src 'self'` permits; they carry no `style` attributes (CSS classes only),
so `style-src 'self'` holds too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

DEFAULT_AFTER_LOGIN = "/profile/ibkr"


def add_security_headers(response: Response) -> Response:
    """Set the pages' CSP and friends (no-store is the app-wide rule: response_headers.py)."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def safe_next_path(candidate: str | None) -> str:
    """A same-site path to go to after login; anything else becomes the profile page.

    Only absolute paths on this site pass: no scheme, no host, no `//evil.example` (which a
    browser reads as another host), no backslash tricks.
    """
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return DEFAULT_AFTER_LOGIN
    if "\\" in candidate or any(ord(char) < 32 for char in candidate):
        return DEFAULT_AFTER_LOGIN
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return DEFAULT_AFTER_LOGIN
    return candidate
