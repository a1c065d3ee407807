"""Where the connector key lives: the OS credential store, an opt-in file, or the environment.

* Default: `keyring` (Windows Credential Manager, macOS Keychain, Secret Service) under the
  service name ``veracity-ibkr-connector`` and user name ``connector-key`` (`SERVICE_NAME`,
  `KEY_USERNAME`; fixed and documented so an admin can find or remove it).
* No usable keyring backend (headless Linux): `NoCredentialStore` with a message that says how
  to opt in to a file store (``key_store = "file"`` / ``IBKR_CONNECTOR_KEY_STORE=file``): one
  file in the user data folder, created with 0600 permissions.
* ``VERACITY_CONNECTOR_KEY`` (containers): read-only; if Veracity refuses it, it is remembered
  as refused in memory and never sent again by this process.
No function here logs or prints a key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

SERVICE_NAME = "veracity-ibkr-connector"
KEY_USERNAME = "connector-key"
KEY_FILE_NAME = "connector-key"
ENV_KEY = "VERACITY_CONNECTOR_KEY"
KEY_PREFIX = "vck_"


class CredentialError(Exception):
    """The key could not be read, stored or deleted; the message says why and what to do."""


class NoCredentialStore(CredentialError):
    """No OS credential store is usable and the file store was not chosen."""


class CredentialStore(Protocol):
    """Reads, stores and deletes the one connector key."""

    description: str

    def get(self) -> str | None:
        """The stored key, or None."""
        ...

    def set(self, key: str) -> None:
        """Store the key (replacing any previous one)."""
        ...

    def delete(self) -> None:
        """Forget the key (no error if there is none)."""
        ...


class KeyringStore:
    """The key in the OS credential store via `keyring`."""

    def __init__(self) -> None:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if not _is_real_credential_store(backend, fail.Keyring):
            raise NoCredentialStore(
                "No usable OS credential store was found (common on headless Linux). Either "
                "install and unlock one (e.g. gnome-keyring), or opt in to keeping the key in a "
                "file readable only by you: set IBKR_CONNECTOR_KEY_STORE=file (or "
                '"key_store": "file" in settings.json).')
        self._keyring = keyring
        self.description = f"OS credential store ({backend.__class__.__name__}), service " \
                           f"{SERVICE_NAME!r}, user {KEY_USERNAME!r}"

    def get(self) -> str | None:
        """The stored key, or None."""
        try:
            return self._keyring.get_password(SERVICE_NAME, KEY_USERNAME)
        except Exception as error:  # keyring backends raise many kinds
            raise CredentialError(f"cannot read the key from the credential store: "
                                  f"{error.__class__.__name__}") from None

    def set(self, key: str) -> None:
        """Store the key."""
        try:
            self._keyring.set_password(SERVICE_NAME, KEY_USERNAME, key)
        except Exception as error:
            raise CredentialError(f"cannot store the key in the credential store: "
                                  f"{error.__class__.__name__}") from None

    def delete(self) -> None:
        """Forget the key."""
        from keyring.errors import PasswordDeleteError

        try:
            self._keyring.delete_password(SERVICE_NAME, KEY_USERNAME)
        except PasswordDeleteError:
            pass  # nothing stored: already forgotten
        except Exception as error:
            raise CredentialError(f"cannot delete the key from the credential store: "
                                  f"{error.__class__.__name__}") from None


class FileStore:
    """The key in one file with 0600 permissions (explicit opt-in only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path} (readable only by you)"

    def get(self) -> str | None:
        """The stored key, or None."""
        try:
            key = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CredentialError(f"cannot read the key file {self.path}: {error.strerror}"
                                  ) from None
        return key or None

    def set(self, key: str) -> None:
        """Store the key, creating the file 0600 before anything is written to it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.unlink(missing_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(key)
            os.replace(temporary, self.path)
        except OSError as error:
            raise CredentialError(f"cannot write the key file {self.path}: {error.strerror}"
                                  ) from None

    def delete(self) -> None:
        """Forget the key."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            raise CredentialError(f"cannot delete the key file {self.path}: {error.strerror}"
                                  ) from None


class EnvironmentStore:
    """The key from VERACITY_CONNECTOR_KEY: read-only; a refused key is not used again."""

    description = f"environment variable {ENV_KEY}"

    def __init__(self, key: str) -> None:
        self._key: str | None = key.strip() or None

    def get(self) -> str | None:
        """The key from the environment, unless Veracity refused it."""
        return self._key

    def set(self, key: str) -> None:
        """Refuse: the environment cannot be changed from here."""
        raise CredentialError(f"the key comes from {ENV_KEY}; change that variable instead "
                              "(a container's settings) to use a new key")

    def delete(self) -> None:
        """Stop using the environment's key in this process."""
        self._key = None


def open_credential_store(key_store: str, data_dir: Path,
                          environ: dict[str, str] | None = None) -> CredentialStore:
    """The store to use: the environment's key if set, else the file or keyring store."""
    environment = os.environ if environ is None else environ
    if environment.get(ENV_KEY, "").strip():
        return EnvironmentStore(environment[ENV_KEY])
    if key_store == "file":
        return FileStore(data_dir / KEY_FILE_NAME)
    return KeyringStore()


def looks_like_key(value: str) -> bool:
    """True if `value` has the connector key's form (prefix + enough characters)."""
    return value.startswith(KEY_PREFIX) and len(value) >= len(KEY_PREFIX) + 32


def _is_real_credential_store(backend: object, failing_class: type) -> bool:
    """False for keyring's "fail" backend and for keyrings.alt's plain files picked by default.

    keyrings.alt (a test dependency) registers plaintext file backends that keyring would pick
    on a machine without an OS store; keeping a key in plain text must be a choice, so those
    only count when named explicitly in PYTHON_KEYRING_BACKEND.
    """
    members = getattr(backend, "backends", None) or [backend]
    explicit = bool(os.environ.get("PYTHON_KEYRING_BACKEND"))
    for member in members:
        if isinstance(member, failing_class):
            continue
        if member.__class__.__module__.startswith("keyrings.alt") and not explicit:
            continue
        return True
    return False
