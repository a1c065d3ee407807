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
from pathlib import Path

from veracity_connector.credentials import CredentialError, CredentialStore
from veracity_connector.outbox import Outbox
from veracity_connector.pairing_files import (
    attempt_key,
    forget_attempt,
    paired_account,
    remember_pairing,
)
from veracity_connector.state import PairingOutcome
from veracity_connector.veracity_api import (
    Pairing,
    PairingRejected,
    Schedule,
    VeracityAnswerLost,
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


EXCHANGE_ATTEMPTS = 3  # the first, and two repeats after an answer cut off half-way


def pair_with_token(token: str, veracity: VeracityClient, credentials: CredentialStore,
                    outbox: Outbox, data_dir: Path, *,
                    discard_outbox: bool = False) -> tuple[PairingOutcome, Schedule | None]:
    """Exchange `token` and store the key; returns the outcome and the server's schedule.

    Snapshots still waiting in the outbox belong to the Veracity account of the earlier pairing
    (pairing_files.py): pairing again with the same account keeps them (they are sent next);
    with another account they are dropped only when `discard_outbox` says so — otherwise the
    pairing stops before storing the key, with code `other_account`, and pairing again with the
    same token (within its lifetime) finishes it as the same connector.
    """
    malformed = check_token_form(token)
    if malformed is not None:
        return malformed, None
    token = token.strip()
    attempt = attempt_key(data_dir, token)
    try:
        pairing = _exchange(veracity, token, attempt)
    except PairingRejected as error:
        forget_attempt(data_dir)
        message = REJECTION_MESSAGES.get(error.code, error.message)
        return PairingOutcome(False, error.code or "token_invalid", message), None
    except VeracityRateLimited as error:
        return PairingOutcome(False, "rate_limited",
                              f"Too many pairing attempts; wait {error.retry_after_s:.0f} s and "
                              "try again."), None
    except VeracityUnavailable as error:
        # The token may have been spent by a request whose answer never came: never claim it
        # is still valid. Repeating with the same token finishes that pairing, if it happened.
        return PairingOutcome(False, "network",
                              f"{error.message}. Check the Veracity address and your internet "
                              "connection, then pair again with the same token: if Veracity "
                              "already used it, this finishes the same pairing."), None
    except VeracityError as error:
        return PairingOutcome(False, "server_error",
                              f"Veracity refused the pairing: {error.message}"), None
    kept = _pending(outbox)
    same_account = paired_account(data_dir) == pairing.account_id
    if kept and not same_account and not discard_outbox:
        return PairingOutcome(False, "other_account", OTHER_ACCOUNT_MESSAGE.format(count=kept)), \
            None
    try:
        credentials.set(pairing.connector_key)
    except CredentialError as error:
        return PairingOutcome(False, "credential_store",
                              f"Paired, but the key could not be stored: {error}. Fix that and "
                              "pair again with the same token right away."), None
    forget_attempt(data_dir)
    remember_pairing(data_dir, pairing.account_id, pairing.connector_id)
    if kept and not same_account:
        _drop_outbox(outbox)
    logger.info("paired with Veracity as connector %s", pairing.connector_id)
    message = f"Paired with Veracity ({veracity.base_url})."
    if kept and same_account:
        message += f" {kept} snapshot(s) kept from before are sent now."
    return PairingOutcome(True, "", message), pairing.schedule


OTHER_ACCOUNT_MESSAGE = (
    "This token belongs to a different Veracity account than the {count} snapshot(s) still "
    "waiting to be sent. Pairing with it drops them. To go ahead, pair again with the same "
    "token and agree to drop them (ibkr-connector pair TOKEN --discard-outbox); to keep them, "
    "use a token from the account they belong to.")


def _exchange(veracity: VeracityClient, token: str, attempt: str) -> Pairing:
    """The exchange, repeated with the same idempotency key when an answer was cut off."""
    for remaining in range(EXCHANGE_ATTEMPTS - 1, -1, -1):
        try:
            return veracity.exchange(token, device_description(), attempt)
        except VeracityAnswerLost:
            if remaining == 0:
                raise
            logger.warning("the pairing answer was cut off; asking again for the same pairing")
    raise AssertionError("unreachable")


def _pending(outbox: Outbox) -> int:
    try:
        return outbox.count()
    except (sqlite3.Error, OSError) as error:
        logger.warning("could not count the unsent snapshots: %s", error)
        return 0


def _drop_outbox(outbox: Outbox) -> None:
    try:
        dropped = outbox.clear()
    except (sqlite3.Error, OSError) as error:
        # The token is spent and the key stored: the pairing worked, and saying otherwise
        # would send the person for a new token that cannot help with a broken outbox.
        logger.warning("paired, but unsent snapshots of the earlier pairing could not be "
                       "dropped: %s", error)
        return
    logger.warning("%d unsent snapshot(s) of another Veracity account dropped", dropped)
