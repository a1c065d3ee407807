"""The person's Flex set-up: the token in the credential store, the query id beside the settings.

Opt-in (issue 19): without a set-up the connector never contacts IBKR's Flex service. The token
is kept like the connector key (credentials.py): in the OS credential store under the service
``veracity-ibkr-connector`` and user name ``flex-token`` (`FLEX_TOKEN_USERNAME`), or — when the
person chose the file key store — in a 0600 file ``flex-token`` in the data folder. It is never
logged, written elsewhere, or sent to Veracity. The query id is not a secret: it is kept in
``flex.json`` in the data folder with when the set-up was made.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from veracity_connector.credentials import (
    SERVICE_NAME,
    CredentialError,
    FileStore,
    NoCredentialStore,
    _is_real_credential_store,
)

FLEX_TOKEN_USERNAME = "flex-token"  # noqa: S105 (the name it is stored under)
FLEX_TOKEN_FILE = "flex-token"  # noqa: S105
FLEX_SETUP_FILE = "flex.json"


@dataclass(frozen=True)
class FlexSetup:
    """A token and query id the person entered."""

    token: str
    query_id: str
    set_at: float | None = None


class _KeyringFlexToken:
    def __init__(self) -> None:
        import keyring
        from keyring.backends import fail

        if not _is_real_credential_store(keyring.get_keyring(), fail.Keyring):
            raise NoCredentialStore(
                "No usable OS credential store was found for the Flex token. Install and unlock "
                "one, or choose the file key store (IBKR_CONNECTOR_KEY_STORE=file).")
        self._keyring = keyring

    def get(self) -> str | None:
        try:
            return self._keyring.get_password(SERVICE_NAME, FLEX_TOKEN_USERNAME)
        except Exception as error:
            raise CredentialError(f"cannot read the Flex token: {error.__class__.__name__}"
                                  ) from None

    def set(self, token: str) -> None:
        try:
            self._keyring.set_password(SERVICE_NAME, FLEX_TOKEN_USERNAME, token)
        except Exception as error:
            raise CredentialError(f"cannot store the Flex token: {error.__class__.__name__}"
                                  ) from None

    def delete(self) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self._keyring.delete_password(SERVICE_NAME, FLEX_TOKEN_USERNAME)
        except PasswordDeleteError:
            pass
        except Exception as error:
            raise CredentialError(f"cannot delete the Flex token: {error.__class__.__name__}"
                                  ) from None


def _token_store(key_store: str, data_dir: Path) -> _KeyringFlexToken | FileStore:
    if key_store == "file":
        return FileStore(data_dir / FLEX_TOKEN_FILE)
    return _KeyringFlexToken()


def normalise_query_id(value: str) -> str:
    """The query id as IBKR shows it (digits); ValueError otherwise."""
    text = value.strip()
    if not text.isdigit() or len(text) > 20:
        raise ValueError("the Flex query id is the number Client Portal shows next to the query")
    return text


def normalise_token(value: str) -> str:
    """The token without spaces; ValueError if it cannot be one."""
    text = "".join(value.split())
    if not text.isalnum() or not 8 <= len(text) <= 64:
        raise ValueError("the Flex token is the long number Client Portal shows after "
                         "“Generate New Token”")
    return text


def load_flex_setup(key_store: str, data_dir: Path) -> FlexSetup | None:
    """The stored set-up, or None when Flex is not set up (CredentialError if unreadable)."""
    try:
        raw = json.loads((data_dir / FLEX_SETUP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    query_id = raw.get("query_id") if isinstance(raw, dict) else None
    if not isinstance(query_id, str) or not query_id:
        return None
    token = _token_store(key_store, data_dir).get()
    if not token:
        return None
    set_at = raw.get("set_at")
    return FlexSetup(token, query_id, float(set_at) if isinstance(set_at, int | float) else None)


def flex_configured(data_dir: Path) -> bool:
    """True if a set-up was saved (without touching the credential store)."""
    return (data_dir / FLEX_SETUP_FILE).is_file()


def save_flex_setup(key_store: str, data_dir: Path, token: str, query_id: str) -> FlexSetup:
    """Store the token (credential store) and the query id (flex.json)."""
    setup = FlexSetup(normalise_token(token), normalise_query_id(query_id), time.time())
    _token_store(key_store, data_dir).set(setup.token)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FLEX_SETUP_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"query_id": setup.query_id, "set_at": setup.set_at}),
                         encoding="utf-8")
    os.replace(temporary, path)
    return setup


def remove_flex_setup(key_store: str, data_dir: Path) -> bool:
    """Forget the token and the query id; True if there was a set-up."""
    had = flex_configured(data_dir)
    _token_store(key_store, data_dir).delete()
    (data_dir / FLEX_SETUP_FILE).unlink(missing_ok=True)
    return had
