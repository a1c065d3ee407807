"""Fixtures for a live Veracity server (filled in by the server core)."""
