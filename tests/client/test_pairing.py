"""pair_with_token with fakes for Veracity and the outbox: what a half-working disk does."""

from __future__ import annotations

import sqlite3
from typing import Any

from veracity_connector.credentials import FileStore
from veracity_connector.pairing import pair_with_token
from veracity_connector.veracity_api import Pairing, Schedule


class FakeVeracity:
    base_url = "https://veracity.example"

    def exchange(self, token: str, device: dict[str, Any], idempotency_key: str) -> Pairing:
        return Pairing(connector_id="c-1", connector_key="vck_secret", schedule=Schedule(),
                       account_id="acct-new")


class BrokenOutbox:
    def count(self) -> int:
        return 1

    def clear(self) -> int:
        raise sqlite3.OperationalError("disk I/O error")


def test_an_outbox_that_cannot_be_cleared_does_not_fail_a_pairing_that_worked(tmp_path, caplog):
    credentials = FileStore(tmp_path / "key")
    outcome, schedule = pair_with_token("vct_" + "a" * 32, FakeVeracity(),  # type: ignore[arg-type]
                                        credentials, BrokenOutbox(),  # type: ignore[arg-type]
                                        tmp_path, discard_outbox=True)
    assert outcome.ok and schedule is not None
    assert credentials.get() == "vck_secret"
    assert "could not be dropped" in caplog.text
