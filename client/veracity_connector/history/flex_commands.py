"""`ibkr-connector flex set | status | remove`: the opt-in Flex set-up from the command line.

`flex set --query-id ID` reads the token from a hidden prompt (or one line of stdin when it is
not a terminal), never from the command line, where the process list and shell history would
keep it. Nothing here prints the token.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from veracity_connector.credentials import CredentialError
from veracity_connector.history.flex_setup import (
    flex_configured,
    load_flex_setup,
    remove_flex_setup,
    save_flex_setup,
)
from veracity_connector.history.history_state import load_history_state
from veracity_connector.settings import Folders, Settings

TRAFFIC_NOTE = (
    "With Flex set up, the connector also contacts IBKR's Flex Web Service ({url}) — the one "
    "exception to \"only the local gateway and Veracity\": once after set-up (a year of "
    "statements) and then once a day. The token stays on this computer (the credential store); "
    "it is never sent to Veracity.")


def read_token(prompt: str = "Flex token (hidden): ") -> str:
    """The token from a hidden prompt, or one line of stdin when stdin is not a terminal."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip() if sys.stdin is not None else ""


def flex_set(settings: Settings, folders: Folders, query_id: str,
             say: Callable[[str], None], token_reader: Callable[[], str] = read_token) -> bool:
    """Store the token and query id; True on success."""
    say(TRAFFIC_NOTE.format(url=settings.flex_url))
    token = token_reader()
    try:
        save_flex_setup(settings.key_store, folders.data_dir, token, query_id)
    except ValueError as error:
        say(f"Not saved: {error}.")
        return False
    except CredentialError as error:
        say(f"Not saved: {error}")
        return False
    say(f"Flex is set up with query {query_id.strip()}. The running connector fetches up to "
        "365 days within a minute, then once a day; `ibkr-connector flex status` shows how it "
        "went, `ibkr-connector doctor` checks the token and the query now.")
    return True


def flex_status_lines(settings: Settings, folders: Folders) -> list[tuple[str, str]]:
    """(label, value) lines for `flex status`."""
    if not flex_configured(folders.data_dir):
        return [("flex", "not set up (no traffic to IBKR's Flex service)")]
    try:
        setup = load_flex_setup(settings.key_store, folders.data_dir)
    except CredentialError as error:
        return [("flex", f"set up, but the token cannot be read: {error}")]
    state = load_history_state(folders.data_dir)
    flex = state.flex
    lines = [("flex", "set up" if setup else "query id saved, token missing: run `flex set`"),
             ("query id", setup.query_id if setup else "-"),
             ("service", settings.flex_url),
             ("state", flex.state),
             ("message", flex.message or "-"),
             ("newest day", flex.last_day or "-"),
             ("acknowledged", flex.acknowledged_day or "-"),
             ("requests", str(flex.requests))]
    if flex.next_try_at:
        lines.append(("next try", datetime.fromtimestamp(flex.next_try_at, UTC)
                      .astimezone().strftime("%Y-%m-%d %H:%M")))
    gateway = state.gateway
    detail = f": {gateway.message}" if gateway.message else ""
    lines.append(("gateway history", f"{gateway.state}{detail}"))
    return lines


def flex_remove(settings: Settings, folders: Folders, say: Callable[[str], None]) -> bool:
    """Forget the token and query id."""
    try:
        had = remove_flex_setup(settings.key_store, folders.data_dir)
    except CredentialError as error:
        say(str(error))
        return False
    say("Flex removed: the token was deleted; the connector no longer contacts IBKR's Flex "
        "service." if had else "Flex was not set up.")
    return True
