"""Request and response bodies of heartbeat and snapshots — exactly the HTTP contract, strictly.

Money and quantities arrive as exact decimal strings ("1234.5600") or JSON numbers (parsed as
Decimal); optional fields may be absent or null; unknown fields at any depth are rejected.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator

from veracity_contract.fields import (
    ExactNumber,
    LongText,
    StrictInt,
    StrictModel,
    UtcTimestamp,
)
from veracity_contract.pairing import GatewayState

# The limits are names so that the connector fits gateway values to them (veracity_connector's
# numbers.py cuts a long text instead of losing the whole snapshot to one field).
CONID_MAX = 2**62
SYMBOL_MAX_LENGTH = 64
CODE_MAX_LENGTH = 32  # asset_class, order_type, status
SHORT_CODE_MAX_LENGTH = 16  # time_in_force, trailing_unit
CURRENCY_MAX_LENGTH = 16
ORDER_ID_MAX_LENGTH = 64
ACCOUNT_ID_MAX_LENGTH = 64
MAX_ACCOUNTS = 200
MAX_ROWS_PER_ACCOUNT = 20_000

Code = Annotated[str, StringConstraints(max_length=CODE_MAX_LENGTH)]
ShortCode = Annotated[str, StringConstraints(max_length=SHORT_CODE_MAX_LENGTH)]
Symbol = Annotated[str, StringConstraints(max_length=SYMBOL_MAX_LENGTH)]
Currency = Annotated[str, StringConstraints(max_length=CURRENCY_MAX_LENGTH)]
Conid = Annotated[StrictInt, Field(ge=0, le=CONID_MAX)]


class GatewayStatus(StrictModel):
    """The gateway as the connector sees it."""

    state: GatewayState
    message: LongText | None = None
    port: Annotated[StrictInt, Field(ge=1, le=65535)] | None = None


# The connector's health summary (its `doctor` checks, refreshed every few minutes). Check
# names are short stable words ("key", "gateway folder", "java", later e.g. "flex"); the
# connector cuts texts to these lengths and never sends secrets or paths naming the user.
HEALTH_MAX_CHECKS = 24
HEALTH_NAME_MAX_LENGTH = 40
HEALTH_MESSAGE_MAX_LENGTH = 300
HEALTH_FIX_MAX_LENGTH = 300
HealthLevel = Literal["ok", "warn", "fail"]


class HealthCheck(StrictModel):
    """One check: its name, ok | warn | fail, what was found, and how to fix it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=HEALTH_NAME_MAX_LENGTH,
                                           pattern=r"^[a-z0-9][a-z0-9 ._-]*$")]
    level: HealthLevel
    message: Annotated[str, StringConstraints(max_length=HEALTH_MESSAGE_MAX_LENGTH)] = ""
    fix: Annotated[str, StringConstraints(max_length=HEALTH_FIX_MAX_LENGTH)] = ""


class HealthSummary(StrictModel):
    """When the checks ran and their results (each name at most once)."""

    checked_at: UtcTimestamp
    checks: Annotated[list[HealthCheck], Field(max_length=HEALTH_MAX_CHECKS)]

    @field_validator("checks")
    @classmethod
    def _names_once(cls, checks: list[HealthCheck]) -> list[HealthCheck]:
        names = [check.name for check in checks]
        if len(set(names)) != len(names):
            raise ValueError("each check name may appear once")
        return checks


class HeartbeatRequest(StrictModel):
    """The connector is alive; how its gateway is doing."""

    connector_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    uptime_s: Annotated[StrictInt, Field(ge=0, le=10**12)] | None = None
    last_snapshot_at: UtcTimestamp | None = None
    gateway: GatewayStatus
    # Absent from connectors older than the health summary (the stored one is then kept).
    health: HealthSummary | None = None


class ConnectorLimits(BaseModel):
    """What Veracity accepts from one connector (and keeps for one user); past a limit it
    answers 413 or 429 `limit_exceeded` with the limit's name in the `Veracity-Limit` header."""

    positions_per_snapshot: int
    stop_orders_per_snapshot: int
    snapshot_bytes: int
    snapshots_per_minute: int
    heartbeats_per_minute: int
    storage_bytes_per_user: int
    # Per POST /api/v1/connector/history/daily (daily_history.py); absent from servers older
    # than daily history. days = (account, report date) points; positions summed over all days.
    history_days_per_request: int | None = None
    history_positions_per_request: int | None = None
    history_request_bytes: int | None = None


class HeartbeatAnswer(BaseModel):
    """Server time, the intervals to use, the limits, and the newest connector version."""

    server_time: str
    heartbeat_interval_s: int
    snapshot_interval_s: int
    latest_version: str | None
    # Absent from servers older than the limits.
    limits: ConnectorLimits | None = None


class PositionFields(StrictModel):
    """What every position the connector sends says: the instrument, how much, at what price.

    A snapshot's positions (`PositionIn`) and a day's positions from a Flex statement
    (`veracity_contract.daily_history.HistoryPositionIn`) add their own fields to these.
    """

    conid: Conid
    symbol: Symbol | None = None
    description: LongText | None = None
    asset_class: Code | None = None
    quantity: ExactNumber
    market_price: ExactNumber | None = None
    # In the position's currency.
    market_value: ExactNumber | None = None
    currency: Currency | None = None
    multiplier: ExactNumber | None = None


class PositionIn(PositionFields):
    """One open position of a snapshot, in the contract's field names."""

    average_cost: ExactNumber | None = None
    unrealized_pnl: ExactNumber | None = None


class StopOrderIn(StrictModel):
    """One working stop-type order."""

    order_id: str | StrictInt
    conid: Conid
    symbol: Symbol | None = None
    side: Literal["BUY", "SELL"]
    order_type: Code | None = None
    quantity: ExactNumber | None = None
    stop_price: ExactNumber | None = None
    limit_price: ExactNumber | None = None
    trailing_amount: ExactNumber | None = None
    trailing_unit: ShortCode | None = None
    time_in_force: ShortCode | None = None
    status: Code | None = None

    @field_validator("order_id")
    @classmethod
    def _order_id_as_text(cls, value: str | int) -> str:
        # IBKR order ids are integers; some clients send them as strings. Store text either way.
        text = str(value)
        if not 1 <= len(text) <= ORDER_ID_MAX_LENGTH:
            raise ValueError(f"order_id must be 1 to {ORDER_ID_MAX_LENGTH} characters")
        return text


class AccountIn(StrictModel):
    """One IBKR account with its positions and working stop orders."""

    account_id: Annotated[str, StringConstraints(min_length=1, max_length=ACCOUNT_ID_MAX_LENGTH)]
    base_currency: Currency | None = None
    net_liquidation: ExactNumber | None = None
    cash: ExactNumber | None = None
    # Optional fields accept null too (an account with nothing open may be sent either way).
    positions: Annotated[list[PositionIn], Field(max_length=MAX_ROWS_PER_ACCOUNT)] | None = None
    stop_orders: Annotated[list[StopOrderIn], Field(max_length=MAX_ROWS_PER_ACCOUNT)] | None = (
        None)


class SnapshotRequest(StrictModel):
    """A whole-portfolio snapshot taken at `taken_at`."""

    snapshot_id: UUID
    taken_at: UtcTimestamp
    accounts: Annotated[list[AccountIn], Field(max_length=MAX_ACCOUNTS)]

    @field_validator("accounts")
    @classmethod
    def _accounts_unique(cls, accounts: list[AccountIn]) -> list[AccountIn]:
        seen: set[str] = set()
        for index, account in enumerate(accounts):
            if account.account_id in seen:
                # By position, not by id: the connector logs refusals, and account ids are
                # IBKR data that must not reach logs.
                raise ValueError(f"accounts[{index}] repeats an account_id sent earlier")
            seen.add(account.account_id)
        return accounts


class SnapshotAnswer(BaseModel):
    """The snapshot's id and whether it had been stored before."""

    snapshot_id: str
    duplicate: bool

