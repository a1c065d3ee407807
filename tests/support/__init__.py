"""Shared helpers for tests: processes on loopback, system tools, live servers."""
