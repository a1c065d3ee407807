"""Abuse limits on login and token exchange (Flask-Limiter).

Memory storage by default (per process: with N gunicorn workers a client gets up to N times the
limit); Redis when `REDIS_URL` is set, shared by every worker and host. A breach is a 429
`rate_limited` with `Retry-After` (rendered by server.errors).
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from veracity_server.settings import Settings

EXTENSION_KEY = "veracity_limiter"
# Blueprints whose routes are counted per connector key by ingest/quotas.py instead.
QUOTA_COUNTED_BLUEPRINTS = frozenset({"ingest", "daily_history"})
log = logging.getLogger(__name__)


def init_limiter(app: Flask, settings: Settings) -> Limiter:
    """Attach a Limiter to `app` with no default limits (views opt in by name)."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        headers_enabled=True,
        enabled=settings.rate_limits_enabled,
        # A broken Redis must not lock everyone out of login: fall back to memory limits.
        in_memory_fallback_enabled=bool(settings.redis_url),
        key_prefix="veracity",
    )
    app.extensions[EXTENSION_KEY] = limiter
    # The connector's write routes count against their own per-key quotas (ingest/quotas.py)
    # and no Flask-Limiter limit names them; its lookup of limits to apply cost a heartbeat
    # about a tenth of its time, so it is skipped for them.
    limiter.request_filter(lambda: request.blueprint in QUOTA_COUNTED_BLUEPRINTS)
    if settings.rate_limits_enabled and not settings.redis_url:
        # Said at every start: behind several workers the limits multiply silently otherwise.
        log.warning("rate limits are per process (in memory): each gunicorn worker and "
                    "instance counts alone; set REDIS_URL to share them")
    return limiter


def enforce_rate_limit(scope: str, limit_value: str) -> None:
    """Count this request against `limit_value` for the client's address; 429 when exceeded."""
    limiter: Limiter = current_app.extensions[EXTENSION_KEY]
    with limiter.limit(limit_value, scope=scope):
        pass
