"""Pairing: trade a one-time `vct_` token for a connector key and store it.

Used by the engine (`Engine.pair`, which the tray calls) and by `ibkr-connector pair TOKEN`.
Answers are `PairingOutcome`s with a message in plain words; the key itself is never returned
to the caller, printed or logged: it goes straight into the credential store.
"""

from __future__ import annotations

import logging
import platform
import re
import socket
import sqlite3

from veracity_connector.credentials import CredentialError, CredentialStore
from veracity_connector.outbox import Outbox
from veracity_connector.state import PairingOutcome
from veracity_connector.veracity_api import (
    PairingRejected,
    RequestRejected,
    Schedule,
    VeracityClient,
    VeracityError,
    VeracityRateLimited,
    VeracityUnavailable,
)
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^vct_[A-Za-z0-9_\-]{16,200}$")

REJECTION_MESSAGES = {
    "token_invalid": "Veracity does not know this token. Copy the whole token (it starts with "
                     "vct_), or generate a new one in Profile → IBKR Integration.",
    "token_expired": "This token has expired (tokens are valid for a few minutes). Generate a "
                     "new one in Profile → IBKR Integration and paste it right away.",
    "token_used": "This token was already used. Each token works once: generate a new one in "
                  "Profile → IBKR Integration.",
}


def check_token_form(token: str) -> PairingOutcome | None:
    """A failed outcome if `token` is not shaped like a pairing token, else None."""
    if not TOKEN_PATTERN.match(token.strip()):
        return PairingOutcome(False, "malformed_token",
                              "That does not look like a Veracity pairing token: it starts with "
                              "vct_ followed by letters and digits. Copy it again from Profile → "
                              "IBKR Integration.")
    return None


def device_description() -> dict[str, str]:
    """What the server shows about this machine on the Profile page."""
    return {
        "hostname": socket.gethostname()[:200] or "unknown",
        "platform": f"{platform.system()} {platform.release()}".strip()[:200] or "unknown",
        "connector_version": connector_version(),
    }


def pair_with_token(token: str, veracity: VeracityClient, credentials: CredentialStore,
                    outbox: Outbox) -> tuple[PairingOutcome, Schedule | None]:
    """Exchange `token` and store the key; returns the outcome and the server's schedule.

    Snapshots still waiting from an earlier pairing are dropped once the new key is stored:
    the new pairing may be another Veracity account, and their data must not go there.
    """
    malformed = check_token_form(token)
    if malformed is not None:
        return malformed, None
    try:
        pairing = veracity.exchange(token.strip(), device_description())
    except PairingRejected as error:
        message = REJECTION_MESSAGES.get(error.code, error.message)
        return PairingOutcome(False, error.code or "token_invalid", message), None
    except VeracityRateLimited as error:
        return PairingOutcome(False, "rate_limited",
                              f"Too many pairing attempts; wait {error.retry_after_s:.0f} s and "
                              "try again."), None
    except VeracityUnavailable as error:
        return PairingOutcome(False, "network",
                              f"{error.message}. Check the Veracity address and your internet "
                              "connection, then try again (the token is still valid)."), None
    except (RequestRejected, VeracityError) as error:
        return PairingOutcome(False, "server_error",
                              f"Veracity refused the pairing: {error.message}"), None
    try:
        credentials.set(pairing.connector_key)
    except CredentialError as error:
        return PairingOutcome(False, "credential_store",
                              f"Paired, but the key could not be stored: {error}. Fix that and "
                              "pair again with a new token."), None
    try:
        dropped = outbox.clear()
    except (sqlite3.Error, OSError) as error:
        # The token is spent and the key stored: the pairing worked, and saying otherwise
        # would send the person for a new token that cannot help with a broken outbox.
        logger.warning("paired, but unsent snapshots of the earlier pairing could not be "
                       "dropped: %s", error)
        dropped = 0
    if dropped:
        logger.warning("%d unsent snapshot(s) of the earlier pairing dropped", dropped)
    logger.info("paired with Veracity as connector %s", pairing.connector_id)
    return PairingOutcome(True, "", f"Paired with Veracity ({veracity.base_url})."), \
        pairing.schedule
