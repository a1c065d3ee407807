"""Response bodies of the portfolio API (documentation and schema checks; extra keys allowed,
so risk fields added by server.profile.risk stay valid)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class PositionOut(BaseModel):
    """A position; numbers as exact decimal strings."""

    conid: int
    symbol: str | None
    description: str | None
    asset_class: str | None
    quantity: str
    market_price: str | None
    market_value: str | None
    average_cost: str | None
    unrealized_pnl: str | None
    currency: str | None
    multiplier: str | None


class StopOrderOut(BaseModel):
    """A working stop-type order; numbers as exact decimal strings."""

    order_id: str
    conid: int
    symbol: str | None
    side: str
    order_type: str | None
    quantity: str | None
    stop_price: str | None
    limit_price: str | None
    trailing_amount: str | None
    trailing_unit: str | None
    time_in_force: str | None
    status: str | None


class AccountOut(BaseModel):
    """An account's current state (from its newest snapshot)."""

    account_id: str
    base_currency: str | None
    net_liquidation: str | None
    cash: str | None
    taken_at: str
    snapshot_id: str | None
    connector_id: str
    # False for an account only a revoked connector reported: kept for history, not current.
    current: bool
    position_count: int
    positions: list[PositionOut]
    stop_orders: list[StopOrderOut]


class HistoryPoint(BaseModel):
    """Net liquidation at one moment, and where it comes from: a live snapshot, or the daily
    history of a day without one (the gateway's Portfolio Analyst or a Flex statement)."""

    taken_at: str
    net_liquidation: str
    source: Literal["live", "gateway", "flex"] = "live"


class HistorySeries(BaseModel):
    """One account's value over time, oldest first."""

    account_id: str
    currency: str | None
    points: list[HistoryPoint]


class ReconciliationDifferenceOut(BaseModel):
    """A day where history and the live end-of-day snapshot disagree, with both values:
    `kind` "nav" or "currency" (the account), "quantity" (one position, by conid)."""

    report_date: str
    account_id: str
    source: Literal["gateway", "flex"]
    kind: Literal["nav", "currency", "quantity"]
    conid: int | None
    symbol: str | None
    currency: str | None
    live_value: str | None
    history_value: str | None
    live_taken_at: str


class ReconciliationOut(BaseModel):
    """The differences, newest day first (at most 200), and how many there are."""

    total: int
    differences: list[ReconciliationDifferenceOut]


class PortfolioAnswer(BaseModel):
    """Current accounts, totals per currency, and the value history."""

    as_of: str | None
    accounts: list[AccountOut]
    net_liquidation_by_currency: dict[str, str]
    range: str
    value_history: list[HistorySeries]
    reconciliation: ReconciliationOut
