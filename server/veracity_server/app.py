"""The Flask app factory: `create_app(test_config=None)` builds everything; nothing at import time.

Blueprints are registered from the one `BLUEPRINTS` list below (add one line to hook a new part
in). `test_config` may hold environment-style settings (`DATABASE_URL`, `VERACITY_*`, see
veracity_server/settings.py), which override the process environment, and Flask config keys
(`TESTING`). Settings are validated once, here; a bad one stops the start naming its variable.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from veracity_server import health
from veracity_server.db import init_database
from veracity_server.errors import register_error_handlers
from veracity_server.ingest.quotas import init_quotas
from veracity_server.limits import init_limiter
from veracity_server.openapi import Operation, Response, build_document, register_operations
from veracity_server.response_headers import init_response_headers
from veracity_server.sessions import LoopbackAwareSessionInterface
from veracity_server.settings import ENVIRONMENT_VARIABLES, SETTINGS_KEY, load_settings

API_TITLE = "Veracity IBKR Connector API"
API_VERSION = "1"

# "module:attribute" of every blueprint, registered in this order.
BLUEPRINTS = [
    "veracity_server.auth.views:blueprint",
    "veracity_server.pairing.views:blueprint",
    "veracity_server.audit.views:blueprint",
    "veracity_server.ingest.views:blueprint",
    "veracity_server.daily_history.views:blueprint",
    "veracity_server.profile.views:blueprint",
    "veracity_server.history.views:blueprint",
    "veracity_server.downloads.views:blueprint",
    "veracity_server.alerts.views:blueprint",
    "veracity_server.pages:blueprint",
]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Veracity server app from the environment (and `test_config` overrides)."""
    overrides = dict(test_config or {})
    environ = dict(os.environ)
    for name in ENVIRONMENT_VARIABLES:
        if name in overrides:
            value = overrides.pop(name)
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = str(value)
    app = Flask("veracity_server", instance_relative_config=True)
    # The documented default (./instance, beside where the server starts), not Flask's guess
    # from the package's location (a var/ folder under sys.prefix once installed).
    settings = load_settings(environ, Path.cwd() / "instance")
    app.extensions[SETTINGS_KEY] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="session",
        PERMANENT_SESSION_LIFETIME=settings.session_lifetime_s,
        JSON_SORT_KEYS=False,
    )
    app.config.update(overrides)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = LoopbackAwareSessionInterface(settings.cookie_secure)
    proxies = settings.proxies_in_front
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    logging.getLogger("veracity_server").setLevel(logging.INFO)

    init_database(app, settings.database_url, settings.database_timeout_s)
    init_limiter(app, settings)
    init_quotas(app, settings)
    register_error_handlers(app)
    init_response_headers(app)
    app.register_blueprint(health.blueprint)
    for dotted in BLUEPRINTS:
        module_name, attribute = dotted.split(":")
        app.register_blueprint(getattr(importlib.import_module(module_name), attribute))

    register_operations(app, [Operation(
        "GET", "/api/v1/openapi.json", "This OpenAPI document", tag="meta",
        responses={200: Response("The OpenAPI 3.1 document", content_type="application/json")})])

    @app.get("/api/v1/openapi.json")
    def openapi_document() -> Any:
        return jsonify(build_document(app, API_TITLE, API_VERSION))

    return app
