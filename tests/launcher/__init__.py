"""Tests of the gateway launcher (client.launcher)."""
