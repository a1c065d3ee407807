"""An app factory for the download tests, plus the S3 fixtures (moto's real HTTP server).

`downloads_app(**settings)` builds the real app (SQLite in tmp_path) with the
IBKR_CONNECTOR_WINDOWS_* settings passed through `create_app(test_config)`; the process
environment is cleared of them first, so each test sees only what it sets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.release.s3_fixtures import aws_environment, moto_endpoint, s3_bucket, s3_client
from veracity_server.app import create_app

__all__ = ["aws_environment", "downloads_app", "moto_endpoint", "s3_bucket", "s3_client"]

API = "/api/v1/downloads/ibkr-connector/windows"


@pytest.fixture
def downloads_app(tmp_path, monkeypatch) -> Callable[..., Flask]:
    """Build an app whose download settings are exactly the keyword arguments given."""
    for name in list(os.environ):
        if name.startswith("IBKR_CONNECTOR_WINDOWS_"):
            monkeypatch.delenv(name)

    def build(**settings: Any) -> Flask:
        config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'veracity.sqlite'}",
                  "VERACITY_INSTANCE_PATH": str(tmp_path / "instance"),
                  "VERACITY_ENV": "development", "TESTING": True}
        config.update({f"IBKR_CONNECTOR_WINDOWS_{name.upper()}": value
                       for name, value in settings.items()})
        return create_app(config)

    return build
