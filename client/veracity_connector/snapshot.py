"""Take a portfolio snapshot from the gateway in the HTTP contract's shape.

Order of calls (IBKR's rules): `/portfolio/accounts` → per account summary, positions cache
invalidation and every position page → `/iserver/accounts` → per account live orders,
filtered to working stop-type orders.
Every account is synced, not only the first. Numbers stay `Decimal` until the payload is made,
where they become exact decimal strings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from veracity_connector.gateway import GatewayClient
from veracity_connector.numbers import (
    CODE_MAX,
    CURRENCY_MAX,
    DESCRIPTION_MAX,
    SYMBOL_MAX,
    bounded_text,
    decimal_to_string,
    lenient_conid,
    lenient_decimal,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One complete picture of every account, ready to send."""

    accounts: list[dict[str, Any]]
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    snapshot_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def payload(self) -> dict[str, Any]:
        """The body of `POST /api/v1/connector/snapshots`."""
        return {
            "snapshot_id": self.snapshot_id,
            "taken_at": self.taken_at.isoformat(),
            "accounts": _jsonable(self.accounts),
        }

    def fingerprint(self) -> str:
        """A hash of the content (not id or time): equal fingerprints = nothing changed."""
        canonical = json.dumps(_jsonable(self.accounts), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def position_count(self) -> int:
        """How many positions in all accounts (for logs without IBKR data)."""
        return sum(len(account["positions"]) for account in self.accounts)


def to_position(raw: dict[str, Any]) -> dict[str, Any] | None:
    """Map a gateway position to the contract's positions item (None if it has no conid)."""
    conid = lenient_conid(raw.get("conid"))
    quantity = lenient_decimal(raw.get("position"), "position")
    if conid is None or quantity is None:
        return None
    return {
        "conid": conid,
        "symbol": bounded_text(raw.get("ticker") or raw.get("contractDesc"), SYMBOL_MAX),
        "description": bounded_text(raw.get("contractDesc"), DESCRIPTION_MAX),
        "asset_class": bounded_text(raw.get("assetClass"), CODE_MAX),
        "quantity": quantity,
        "market_price": lenient_decimal(raw.get("mktPrice"), "mktPrice"),
        "market_value": lenient_decimal(raw.get("mktValue"), "mktValue"),
        "average_cost": lenient_decimal(raw.get("avgCost"), "avgCost"),
        "unrealized_pnl": lenient_decimal(raw.get("unrealizedPnl"), "unrealizedPnl"),
        "currency": bounded_text(raw.get("currency"), CURRENCY_MAX),
        # An addition to the contract's first version: the risk figures need it.
        "multiplier": lenient_decimal(raw.get("multiplier"), "multiplier"),
    }


def take_snapshot(gateway: GatewayClient) -> Snapshot:
    """Read every account from the gateway (the session must be ok)."""
    taken_at = datetime.now(UTC)
    accounts: list[dict[str, Any]] = []
    for account in gateway.portfolio.accounts():
        summary = gateway.portfolio.summary(account.account_id)
        mapped = [to_position(raw) for raw in gateway.portfolio.positions(account.account_id)]
        positions = [position for position in mapped if position is not None]
        if len(positions) < len(mapped):
            # One odd row must not cost the whole snapshot (the server rejects it whole).
            logger.warning("skipped %d position(s) without conid or quantity",
                           len(mapped) - len(positions))
        accounts.append({
            "account_id": account.account_id,
            "base_currency": account.base_currency or summary.currency,
            "net_liquidation": summary.net_liquidation,
            "cash": summary.cash,
            "positions": positions,
            "stop_orders": [],
        })
    if accounts:
        brokerage_accounts = set(gateway.orders.brokerage_accounts())
        for entry in accounts:
            # Orders are only visible for accounts of the brokerage session.
            if not brokerage_accounts or entry["account_id"] in brokerage_accounts:
                entry["stop_orders"] = gateway.orders.stop_orders(entry["account_id"])
    return Snapshot(accounts=accounts, taken_at=taken_at)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_to_string(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
