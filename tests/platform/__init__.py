"""Tests of the platform seam (client.platform)."""
