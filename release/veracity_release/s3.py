"""The bucket, through boto3: credentials only from the standard AWS chain.

The endpoint can be overridden for MinIO or moto with `--endpoint-url` or boto3's own
`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` variables. Every boto3 failure is turned into a
ReleaseError that says what to fix.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from veracity_release.checksums import CHUNK_BYTES, sha256_of_chunks
from veracity_release.errors import InvalidJSONError, ReleaseError

CREDENTIALS_HINT = (
    "no AWS credentials found; configure the standard AWS chain "
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE with ~/.aws/credentials, "
    "or an instance/CI role)"
)


def make_s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """An S3 client from the standard credential chain, optionally on another endpoint."""
    # Path-style addressing works with MinIO and moto on a bare host:port as well as AWS.
    config = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                    retries={"max_attempts": 3})
    # A new session each time: boto3's module-level default session caches credentials.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


@contextlib.contextmanager
def explained_s3_errors(bucket: str, action: str) -> Iterator[None]:
    """Turn boto3 exceptions raised inside into ReleaseErrors naming the bucket and action."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError as error:
        raise ReleaseError(CREDENTIALS_HINT) from error
    except botocore.exceptions.PartialCredentialsError as error:
        raise ReleaseError(f"incomplete AWS credentials: {error}") from error
    except botocore.exceptions.EndpointConnectionError as error:
        raise ReleaseError(f"cannot reach the S3 endpoint while trying to {action}: {error}") \
            from error
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchBucket", "404"} and "bucket" in action:
            raise ReleaseError(f"bucket {bucket!r} does not exist (while trying to {action})") \
                from error
        if code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            raise ReleaseError(
                f"access to bucket {bucket!r} denied while trying to {action} ({code}); "
                "check the credentials and the bucket policy"
            ) from error
        raise ReleaseError(f"S3 error {code or error} while trying to {action} in {bucket!r}") \
            from error


def check_bucket(client: Any, bucket: str) -> None:
    """Fail early and clearly when the bucket is missing or not ours to use."""
    with explained_s3_errors(bucket, f"open bucket {bucket!r}"):
        client.head_bucket(Bucket=bucket)


def object_exists(client: Any, bucket: str, key: str) -> bool:
    """True when `key` exists in `bucket`."""
    try:
        with explained_s3_errors(bucket, f"look up {key}"):
            client.head_object(Bucket=bucket, Key=key)
    except ReleaseError as error:
        cause = error.__cause__
        if isinstance(cause, botocore.exceptions.ClientError) and \
                cause.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def read_object_text(client: Any, bucket: str, key: str) -> str | None:
    """The object's text, or None when it does not exist."""
    if not object_exists(client, bucket, key):
        return None
    with explained_s3_errors(bucket, f"read {key}"):
        return str(client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))


def read_object_json(client: Any, bucket: str, key: str) -> Any:
    """The object parsed as JSON, or None when it does not exist (InvalidJSONError if it
    does not parse; any other ReleaseError is a failure to read it)."""
    text = read_object_text(client, bucket, key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidJSONError(f"s3://{bucket}/{key} is not valid JSON: {error}") from error


def sha256_of_object(client: Any, bucket: str, key: str) -> tuple[str, int]:
    """Download an object and return (hex SHA-256, size) of the bytes S3 actually holds."""
    with explained_s3_errors(bucket, f"read back {key}"):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in body.iter_chunks(CHUNK_BYTES):
                size += len(chunk)
                yield chunk

        return sha256_of_chunks(chunks()), size


def presigned_download_url(client: Any, bucket: str, key: str, filename: str,
                           expires_in_s: int) -> str:
    """A presigned GET URL that makes browsers save the object as `filename`."""
    with explained_s3_errors(bucket, f"presign {key}"):
        return str(client.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'},
            ExpiresIn=expires_in_s,
        ))
