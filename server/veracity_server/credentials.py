"""Secrets: pairing tokens (`vct_`), connector keys (`vck_`), password hashing (argon2).

Tokens and keys are high-entropy random strings, so a plain SHA-256 is a safe way to store them
(no salt or secret needed: nothing to brute-force, and a restart or second instance can always
recompute the hash). Passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PAIRING_TOKEN_PREFIX = "vct_"  # noqa: S105 — a public prefix, not a secret
CONNECTOR_KEY_PREFIX = "vck_"
PAIRING_TOKEN_BYTES = 24  # 192 bits (the contract asks for at least 128)
CONNECTOR_KEY_BYTES = 32  # 256 bits

# argon2id with RFC 9106's low-memory profile (argon2-cffi's default). Tests swap in a cheap
# hasher (tests/support/server_fixtures.py); verification always follows the hash's own
# parameters, so hashes made either way verify anywhere.
_password_hasher = PasswordHasher()


@functools.cache
def _dummy_password_hash(hasher: PasswordHasher) -> str:
    """Verified against when the email is unknown, so a login takes as long either way."""
    return hasher.hash("not a real password")


def new_pairing_token() -> str:
    """A fresh one-time pairing token."""
    return PAIRING_TOKEN_PREFIX + secrets.token_urlsafe(PAIRING_TOKEN_BYTES)


def new_connector_key() -> str:
    """A fresh connector key."""
    return CONNECTOR_KEY_PREFIX + secrets.token_urlsafe(CONNECTOR_KEY_BYTES)


def secret_hash(secret: str) -> str:
    """The hex SHA-256 under which a token or key is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _password_hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; spends the same effort when there is no user."""
    try:
        hash_to_check = password_hash or _dummy_password_hash(_password_hasher)
        return _password_hasher.verify(hash_to_check, password) and (
            password_hash is not None)
    except (VerificationError, InvalidHashError):
        return False
