"""Where the key lives: keyring, the opt-in 0600 file, or the environment."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from veracity_connector.credentials import (
    KEY_USERNAME,
    SERVICE_NAME,
    CredentialError,
    EnvironmentStore,
    FileStore,
    KeyringStore,
    NoCredentialStore,
    open_credential_store,
)

KEY = "vck_" + "k" * 43


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_file_store_is_0600_and_round_trips(tmp_path):
    store = FileStore(tmp_path / "data" / "connector-key")
    assert store.get() is None
    store.set(KEY)
    assert store.get() == KEY
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.delete()
    store.delete()  # twice is fine
    assert store.get() is None


def test_environment_key_wins_and_cannot_be_overwritten(tmp_path):
    store = open_credential_store("file", tmp_path, {"VERACITY_CONNECTOR_KEY": KEY})
    assert isinstance(store, EnvironmentStore)
    assert store.get() == KEY
    with pytest.raises(CredentialError, match="VERACITY_CONNECTOR_KEY"):
        store.set("vck_other")
    store.delete()  # a refused key is not used again by this process
    assert store.get() is None


def test_keyring_store_uses_the_documented_service_name(tmp_path, monkeypatch):
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        store = KeyringStore()
        store.set(KEY)
        assert backend.get_password(SERVICE_NAME, KEY_USERNAME) == KEY
        assert store.get() == KEY
        store.delete()
        store.delete()
        assert store.get() is None
    finally:
        keyring.set_keyring(previous)


def test_plaintext_backend_picked_by_default_is_not_a_credential_store(monkeypatch):
    # keyrings.alt is installed for tests; keyring would pick its plain file by default.
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    try:
        with pytest.raises(NoCredentialStore, match="IBKR_CONNECTOR_KEY_STORE=file"):
            KeyringStore()
    finally:
        keyring.set_keyring(previous)


def test_no_backend_at_all_gives_the_opt_in_message():
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(NoCredentialStore, match="opt in"):
            open_credential_store("keyring", Path("."), {})
    finally:
        keyring.set_keyring(previous)
