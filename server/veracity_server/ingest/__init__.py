"""Ingest: the connector's heartbeats and portfolio snapshots (Bearer connector key)."""
