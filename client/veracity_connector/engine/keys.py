"""The connector key as the engine sees it: opened lazily, read fresh, deleted when refused.

The store is read on every look, so a key stored by another process (`ibkr-connector pair`)
is noticed while the engine waits; a problem with the store itself is kept as a message for
the person instead of ending the loop.
"""

from __future__ import annotations

import logging

from veracity_connector.credentials import CredentialError, CredentialStore, open_credential_store
from veracity_connector.settings import Folders, Settings

logger = logging.getLogger(__name__)


class KeyKeeper:
    """Reads and deletes the stored key; remembers why it cannot, and whether it was refused."""

    def __init__(self, settings: Settings, folders: Folders,
                 credentials: CredentialStore | None = None) -> None:
        self._settings = settings
        self._folders = folders
        self._credentials = credentials
        self.problem = ""  # why the store cannot be used, for a person; "" when it can
        self.revoked_notice = False  # Veracity refused the key and no new one came yet

    def store(self) -> CredentialStore | None:
        """The credential store, opened on first use; None (and `problem`) if it cannot be."""
        if self._credentials is None:
            try:
                self._credentials = open_credential_store(self._settings.key_store,
                                                          self._folders.data_dir)
                self.problem = ""
            except CredentialError as error:
                self.problem = str(error)
                return None
        return self._credentials

    def current(self) -> str | None:
        """The stored key now, or None (not paired, or the store failed: see `problem`)."""
        credentials = self.store()
        if credentials is None:
            return None
        try:
            key = credentials.get()
        except CredentialError as error:
            self.problem = str(error)
            return None
        self.problem = ""
        return key

    def delete_refused(self, refused_key: str) -> None:
        """Delete `refused_key` if it is still the stored one (errors are logged)."""
        credentials = self.store()
        try:
            # Another process may have stored a new key meanwhile: only delete the refused one.
            if credentials is not None and credentials.get() == refused_key:
                credentials.delete()
        except CredentialError as error:
            logger.error("could not delete the refused key: %s", error)
