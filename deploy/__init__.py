"""Deployment files: the nginx template and its renderer (docker-compose.yml and tests use them)."""
