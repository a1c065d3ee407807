"""S3 fixtures (moto's real HTTP server) for the release tests."""

from tests.release.s3_fixtures import aws_environment, moto_endpoint, s3_bucket, s3_client

__all__ = ["aws_environment", "moto_endpoint", "s3_bucket", "s3_client"]
