"""What storing a snapshot needs to know of it, whichever validator read it.

The body itself is stored as sent (or re-encoded, see requests_json.parse_body_bytes); the ingest
path reads only these facts: the id, the time, and per account its id, value and how many rows it
carries. Both readers (`snapshot_reader`'s msgspec mirror and pydantic's `SnapshotRequest`)
produce them, so the storage code does not care which one ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from veracity_contract.connector import SnapshotRequest


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """One account of a snapshot: its id, base currency and value, and its row counts."""

    account_id: str
    base_currency: str | None
    net_liquidation: Decimal | None
    positions: int
    stop_orders: int


@dataclass(frozen=True, slots=True)
class SnapshotFacts:
    """A validated snapshot's id, time (UTC) and accounts."""

    snapshot_id: UUID
    taken_at: datetime
    accounts: tuple[AccountFacts, ...]

    @classmethod
    def of(cls, snapshot: SnapshotRequest) -> SnapshotFacts:
        """The facts of a snapshot pydantic validated."""
        return cls(snapshot.snapshot_id, snapshot.taken_at, tuple(
            AccountFacts(account.account_id, account.base_currency, account.net_liquidation,
                         len(account.positions or ()), len(account.stop_orders or ()))
            for account in snapshot.accounts))

    @property
    def positions(self) -> int:
        """Positions over all accounts."""
        return sum(account.positions for account in self.accounts)

    @property
    def stop_orders(self) -> int:
        """Stop orders over all accounts."""
        return sum(account.stop_orders for account in self.accounts)
