"""The simulated brokerage's book: accounts, contracts, positions, orders and their prices.

Amounts are plain floats: the gateway itself sends JSON numbers, and the simulator only has to
produce what the gateway produces, not keep books.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

# The USD value of one unit of each currency. Fixed: FX moves would add nothing a client could
# check, since clients read rates only through the ledger's `exchangerate`.
USD_PER_UNIT = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.12, "JPY": 0.0067, "CAD": 0.73}

ASSET_CLASSES = ("STK", "OPT", "FUT", "CASH", "BOND", "FOP", "WAR", "FUND")


def exchange_rate(from_currency: str, to_currency: str) -> float:
    """How many `to_currency` one unit of `from_currency` is worth."""
    try:
        return USD_PER_UNIT[from_currency] / USD_PER_UNIT[to_currency]
    except KeyError as missing:
        raise ValueError(f"unknown currency {missing.args[0]!r}") from None


@dataclass
class Contract:
    """An instrument with a price that moves; positions and orders refer to it by conid."""

    conid: int
    ticker: str
    asset_class: str
    currency: str
    price: float
    description: str = ""
    listing_exchange: str = "NASDAQ"
    multiplier: float = 1.0
    expiry: str | None = None  # YYYYMMDD, options and futures only
    put_or_call: str | None = None  # "P" / "C", options only
    strike: float | None = None
    underlying_conid: int | None = None

    def contract_description(self) -> str:
        """The gateway's `contractDesc` (options read like "AAPL NOV2026 190 C [...]")."""
        return self.description or self.ticker


@dataclass
class Position:
    """A holding of one contract in one account."""

    conid: int
    quantity: float
    average_price: float  # per unit, before the multiplier
    realized_pnl: float = 0.0


@dataclass
class Order:
    """An order as the gateway lists it; prices are kept as the strings the gateway sends."""

    order_id: int
    account_id: str
    conid: int
    side: str  # BUY / SELL
    order_type: str  # display string: Stop, Stop Limit, TRAILING_STOP, Limit, Market...
    quantity: float
    status: str
    filled_quantity: float = 0.0
    price: str | None = None  # limit price
    aux_price: str | None = None  # stop price or trailing amount ("5" or "2%")
    time_in_force: str = "GTC"
    outside_rth: bool = False
    order_ref: str | None = None
    last_execution_ms: int = 0


@dataclass
class Account:
    """One IBKR account with its cash per currency, positions and orders."""

    account_id: str
    base_currency: str
    title: str
    cash: dict[str, float] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    account_type: str = "INDIVIDUAL"


@dataclass
class Book:
    """Everything the simulated brokerage knows, plus the seeded random walk of prices."""

    accounts: list[Account]
    contracts: dict[int, Contract]
    seed: int = 7
    volatility: float = 0.01
    random_source: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.random_source.seed(self.seed)

    def account(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        return next((acct for acct in self.accounts if acct.account_id == account_id), None)

    def contract(self, conid: int) -> Contract:
        """The contract a position or order refers to (KeyError when it does not exist)."""
        return self.contracts[conid]

    def tick_prices(self, steps: int = 1) -> None:
        """Move every price by `steps` steps of a seeded geometric random walk."""
        for _ in range(steps):
            for conid in sorted(self.contracts):
                contract = self.contracts[conid]
                move = math.exp(self.random_source.gauss(0.0, self.volatility))
                contract.price = round(max(contract.price * move, 0.01), 4)

    def position_value(self, position: Position) -> tuple[float, float]:
        """Market value and unrealized P&L of a position in the contract's currency."""
        contract = self.contract(position.conid)
        market_value = position.quantity * contract.price * contract.multiplier
        cost = position.quantity * position.average_price * contract.multiplier
        return round(market_value, 2), round(market_value - cost, 2)

    def net_liquidation(self, account: Account) -> float:
        """Cash plus the value of positions, in the account's base currency.

        Futures add only their unrealized P&L (they are marked to market daily), like IBKR's
        net liquidation value.
        """
        total = sum(amount * exchange_rate(currency, account.base_currency)
                    for currency, amount in account.cash.items())
        for position in account.positions:
            contract = self.contract(position.conid)
            market_value, unrealized = self.position_value(position)
            counted = unrealized if contract.asset_class in ("FUT", "FOP") else market_value
            total += counted * exchange_rate(contract.currency, account.base_currency)
        return round(total, 2)


def require_fields(data: dict[str, Any], names: tuple[str, ...], what: str) -> None:
    """Raise ValueError naming the first missing field of a control-API object."""
    for name in names:
        if data.get(name) is None:
            raise ValueError(f"{what}: field {name!r} is required")
