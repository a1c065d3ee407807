"""Daily history points: one account's value (and, from Flex, positions) at one day's end.

Numbers are `Decimal` throughout (never binary float); dates are the report dates IBKR gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class DailyPosition:
    """One position at a day's end, as Flex's OpenPositions reports it."""

    conid: int
    symbol: str | None
    asset_class: str | None
    currency: str | None
    quantity: Decimal
    market_price: Decimal | None
    market_value: Decimal | None
    fx_rate_to_base: Decimal | None = None
    description: str | None = None
    multiplier: Decimal | None = None


@dataclass(frozen=True)
class DailyPoint:
    """One account's net asset value in its base currency at the end of `day`."""

    account_id: str
    day: date
    nav: Decimal
    base_currency: str | None
    positions: tuple[DailyPosition, ...] | None = field(default=None)  # None: not known


@dataclass(frozen=True)
class DailySeries:
    """What one fetch produced: points of one source, accepted whole or not at all."""

    source: str  # "gateway" (Portfolio Analyst) or "flex"
    points: tuple[DailyPoint, ...]

    @property
    def days(self) -> int:
        """Distinct report dates covered."""
        return len({point.day for point in self.points})

    @property
    def last_day(self) -> date | None:
        """The newest report date, or None for an empty series."""
        return max((point.day for point in self.points), default=None)
