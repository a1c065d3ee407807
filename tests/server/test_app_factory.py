"""The app factory and the one error model (404, 405, 413, 500: JSON, never HTML or a trace)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.server_fixtures import REPO_ROOT
from veracity_server.app import create_app
from veracity_server.settings import SettingsError


def test_importing_the_app_module_builds_nothing(tmp_path) -> None:
    code = ("import flask, veracity_server.app as app_module; "
            "print(sum(isinstance(value, flask.Flask) for value in vars(app_module).values()))")
    instance = tmp_path / "instance"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True,
                            env={"PATH": "/usr/bin", "VERACITY_ENV": "development",
                                 "VERACITY_INSTANCE_PATH": str(instance)})
    assert result.stdout.strip() == "0"
    assert not instance.exists()  # no secret key, no database file at import time


def test_factory_fails_fast_on_bad_settings(tmp_path) -> None:
    with pytest.raises(SettingsError, match="VERACITY_HEARTBEAT_INTERVAL_S"):
        create_app({"VERACITY_SECRET_KEY": "k" * 40, "VERACITY_HEARTBEAT_INTERVAL_S": "soon",
                    "VERACITY_INSTANCE_PATH": str(tmp_path)})


def test_health_and_readiness(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_readiness_fails_cleanly_without_a_database(make_app, tmp_path) -> None:
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"


def test_unexpected_errors_are_json_without_a_trace(app) -> None:
    @app.get("/api/v1/test-crash")
    def crash() -> None:
        raise RuntimeError("secret internals vck_should_not_leak")

    response = app.test_client().get("/api/v1/test-crash")
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error",
                                             "message": "Something went wrong on our side."}}
    assert b"Traceback" not in response.data and b"vck_" not in response.data


def test_405_keeps_the_allow_header(client) -> None:
    response = client.get("/api/v1/connector/heartbeat")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_body_limit_is_configurable(make_app) -> None:
    app = make_app(VERACITY_MAX_CONTENT_LENGTH=2048)
    response = app.test_client().post("/api/v1/session", data="x" * 4096,
                                      content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
