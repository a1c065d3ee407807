"""Abuse limits on login and token exchange (Flask-Limiter).

Memory storage by default (per process: with N gunicorn workers a client gets up to N times the
limit); Redis when `REDIS_URL` is set, shared by every worker and host. A breach is a 429
`rate_limited` with `Retry-After` (rendered by server.errors).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
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
    _skip_hooks_for_quota_counted(app, limiter)
    if settings.rate_limits_enabled and not settings.redis_url:
        # Said at every start: behind several workers the limits multiply silently otherwise.
        log.warning("rate limits are per process (in memory): each gunicorn worker and "
                    "instance counts alone; set REDIS_URL to share them")
    return limiter


def _skip_hooks_for_quota_counted(app: Flask, limiter: Limiter) -> None:
    """Run none of Flask-Limiter's request hooks on the quota-counted routes.

    Those routes count against their own per-key quotas (ingest/quotas.py) and no Flask-Limiter
    limit names them, yet its three hooks (the lookup of limits before the view, the headers
    after it, the context reset at the end) cost a heartbeat about a tenth of its time. Each
    hook is wrapped where the app registered it; a Flask-Limiter that registers them otherwise
    fails here, at start, rather than silently running them again.
    """
    def owned(hook: Any) -> bool:
        target = hook.func if isinstance(hook, functools.partial) else hook
        return getattr(target, "__self__", None) is limiter or (
            isinstance(hook, functools.partial) and limiter in hook.args)

    def before(hook: Callable[..., Any]) -> Callable[[], Any]:
        return lambda: None if request.blueprint in QUOTA_COUNTED_BLUEPRINTS else hook()

    def after(hook: Callable[..., Any]) -> Callable[[Response], Any]:
        return lambda response: (response if request.blueprint in QUOTA_COUNTED_BLUEPRINTS
                                 else hook(response))

    def teardown(hook: Callable[..., Any]) -> Callable[[BaseException | None], Any]:
        return lambda error: None if request.blueprint in QUOTA_COUNTED_BLUEPRINTS else hook(
            error)

    wrapped = 0
    wraps: list[tuple[dict[Any, list[Any]], Callable[[Callable[..., Any]], Any]]] = [
        (app.before_request_funcs, before), (app.after_request_funcs, after),
        (app.teardown_request_funcs, teardown)]
    for registry, wrap in wraps:
        hooks = registry.get(None, [])
        for index, hook in enumerate(hooks):
            if owned(hook):
                hooks[index] = wrap(hook)
                wrapped += 1
    expected = 3 if limiter.enabled else 0  # a disabled Limiter registers none
    if wrapped != expected:
        raise RuntimeError(f"expected Flask-Limiter's {expected} request hooks on the app, "
                           f"found {wrapped}")


def enforce_rate_limit(scope: str, limit_value: str) -> None:
    """Count this request against `limit_value` for the client's address; 429 when exceeded."""
    limiter: Limiter = current_app.extensions[EXTENSION_KEY]
    with limiter.limit(limit_value, scope=scope):
        pass
