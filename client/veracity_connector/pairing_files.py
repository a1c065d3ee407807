"""What the connector remembers about its pairing in the data folder (never the key itself).

* `pairing.json` — the Veracity account (`account_id`, opaque) and connector id of the current
  pairing. The outbox's snapshots belong to that account: they are delivered after a new
  pairing with the same account, and never to another one unless the person agrees.
* `pairing-attempt.json` — the idempotency key of the latest exchange, by the token's SHA-256
  (never the token). Pairing again with the same token re-sends the same key, so an exchange
  whose answer was lost finishes as the same connector instead of a second one.

Both are written whole (a temporary file, then a rename), so a crash leaves the old or the new.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PAIRING_FILE = "pairing.json"
ATTEMPT_FILE = "pairing-attempt.json"


def paired_account(data_dir: Path) -> str | None:
    """The Veracity account of the current (or last revoked) pairing, if known."""
    value = _read(data_dir / PAIRING_FILE).get("account_id")
    return value if isinstance(value, str) and value else None


def remember_pairing(data_dir: Path, account_id: str, connector_id: str) -> None:
    """Record the account and connector of a pairing that just succeeded."""
    _write(data_dir / PAIRING_FILE, {"account_id": account_id, "connector_id": connector_id})


def forget_pairing(data_dir: Path) -> None:
    """Forget the account (after `unpair`: the outbox was cleared with it)."""
    (data_dir / PAIRING_FILE).unlink(missing_ok=True)


def attempt_key(data_dir: Path, token: str) -> str:
    """The idempotency key for exchanging `token`: the earlier attempt's if it was this token."""
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    attempt = _read(data_dir / ATTEMPT_FILE)
    key = attempt.get("idempotency_key")
    if attempt.get("token_sha256") == token_hash and isinstance(key, str) and key:
        return key
    key = str(uuid.uuid4())
    # Saved before the request goes out: if the process dies waiting for the answer, the next
    # attempt with this token still finishes the same pairing.
    _write(data_dir / ATTEMPT_FILE, {"token_sha256": token_hash, "idempotency_key": key})
    return key


def forget_attempt(data_dir: Path) -> None:
    """The attempt is over (paired, or the token was refused)."""
    (data_dir / ATTEMPT_FILE).unlink(missing_ok=True)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable %s: %s", path.name, error)
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)
