"""S3 for tests: moto's real HTTP server on a free loopback port, a fresh bucket per test.

Import the fixtures into a conftest.py (`from tests.release.s3_fixtures import *`) to use them:
- `moto_endpoint` (session): base URL of a ThreadedMotoServer.
- `aws_environment`: test credentials in the environment, endpoint via AWS_ENDPOINT_URL_S3, no
  ~/.aws files and no instance-metadata lookups (which would leave loopback).
- `s3_bucket`: a new, empty bucket name; `s3_client`: a boto3 client on the moto server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.support.processes import free_port

TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Base URL of moto's S3 server, running in this process on a free port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def isolate_from_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No shared config, no profile, no instance metadata: only what the test sets."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                    moto_endpoint: str) -> str:
    """Test credentials and the moto endpoint in the environment; returns the endpoint."""
    isolate_from_real_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def s3_client(aws_environment: str) -> Any:
    """A boto3 S3 client talking to the moto server."""
    return boto3.client("s3", endpoint_url=aws_environment, region_name=TEST_REGION,
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """Name of a new, empty bucket on the moto server."""
    name = f"releases-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def bucket_snapshot(client: Any, bucket: str) -> dict[str, tuple[str, str]]:
    """{key: (ETag, LastModified)} of every object, to prove that nothing changed."""
    snapshot = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            snapshot[item["Key"]] = (item["ETag"], item["LastModified"].isoformat())
    return snapshot
