"""Pairing: one-time tokens, their exchange for a connector key, the connector list, revocation."""
