"""The past of the simulated accounts: one close (NAV, cash, positions) per business day.

Portfolio Analyst (`/pa/performance`) and the Flex statements both read their history here,
so the two sources agree with each other and with what the gateway showed on each day:

- Days the simulator lived through ("observed" days) close with the book as it stood when the
  day ended. `observe()` runs before every gateway request and every control call, so a close
  is captured before anything can change the book on the next day: a past day's NAV is exactly
  the last `netliquidation` the gateway answered that day.
- Days before an account was first seen ("synthetic" days) come from a seeded random walk of
  each contract's price, run backwards from the prices when the account was first seen (its
  anchor), with the anchor's positions and cash. The same seed gives the same past.

Weekends have no close (IBKR's daily series list business days); holidays are not modelled.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
import random
from dataclasses import dataclass, field

from ibkr_gateway_sim.portfolio import Account, Book, Contract, exchange_rate

# How far back an account's synthetic past reaches: the account "opened" this many calendar
# days before the simulator first saw it (Flex answers 1003 for earlier ranges).
ACCOUNT_HISTORY_DAYS = 400
DAILY_VOLATILITY = 0.008  # of the backward price walk


@dataclass(frozen=True)
class PositionClose:
    """One position at a day's end, with the contract's details as of that day."""

    contract: Contract
    quantity: float
    average_price: float
    market_value: float  # in the contract's currency
    unrealized_pnl: float


@dataclass(frozen=True)
class AccountClose:
    """An account at one business day's end."""

    account_id: str
    base_currency: str
    title: str
    account_type: str
    day: dt.date
    nav: float  # net liquidation in the base currency, as /portfolio/{id}/summary computes it
    cash: dict[str, float]
    positions: tuple[PositionClose, ...]
    observed: bool  # True: the simulator lived through this day; False: the seeded past


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday (no holiday calendar)."""
    return day.weekday() < 5


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Business days from `start` to `end`, both included."""
    days, day = [], start
    while day <= end:
        if is_business_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def count_business_days_after(start: dt.date, end: dt.date) -> int:
    """How many business days lie in (start, end]."""
    days = (end - start).days
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for offset in range(1, rest + 1):
        if is_business_day(start + dt.timedelta(days=weeks * 7 + offset)):
            count += 1
    return count


def previous_business_day(day: dt.date) -> dt.date:
    """The last business day strictly before `day`."""
    day -= dt.timedelta(days=1)
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def close_from_book(book: Book, account: Account, day: dt.date, observed: bool) -> AccountClose:
    """The close of `account` priced with `book`'s contracts (the gateway's own arithmetic).

    An observed close copies the live contracts (their prices move on); a synthetic one was
    given contracts of its own.
    """
    positions = []
    for position in account.positions:
        contract = book.contract(position.conid)
        market_value, unrealized = book.position_value(position)
        kept = copy.copy(contract) if observed else contract
        positions.append(PositionClose(contract=kept, quantity=position.quantity,
                                       average_price=position.average_price,
                                       market_value=market_value, unrealized_pnl=unrealized))
    return AccountClose(account_id=account.account_id, base_currency=account.base_currency,
                        title=account.title, account_type=account.account_type, day=day,
                        nav=book.net_liquidation(account), cash=dict(account.cash),
                        positions=tuple(positions), observed=observed)


@dataclass(frozen=True)
class Correction:
    """A scripted difference between a past close and what the gateway showed that day."""

    nav: float | None
    quantities: dict[int, float]  # conid → quantity at the day's end (0: not held)

    def apply(self, close: AccountClose) -> AccountClose:
        """The close with this correction's NAV and quantities."""
        positions = []
        for position in close.positions:
            quantity = self.quantities.get(position.contract.conid, position.quantity)
            if quantity == 0:
                continue
            if quantity != position.quantity:
                contract = position.contract
                market_value = quantity * contract.price * contract.multiplier
                cost = quantity * position.average_price * contract.multiplier
                position = dataclasses.replace(
                    position, quantity=quantity, market_value=round(market_value, 2),
                    unrealized_pnl=round(market_value - cost, 2))
            positions.append(position)
        return dataclasses.replace(close, positions=tuple(positions),
                                   nav=close.nav if self.nav is None else self.nav)


@dataclass
class _Anchor:
    """An account as first seen, and the contracts it held then."""

    day: dt.date
    account: Account
    contracts: dict[int, Contract]
    walks: dict[int, list[float]] = field(default_factory=dict)  # conid → log factors back
    navs: dict[tuple[str, dt.date], float] = field(default_factory=dict)  # seeded NAVs
    prices: dict[int, dict[int, float]] = field(default_factory=dict)  # steps → conid → price


class NavHistory:
    """Closes per account and business day; the caller holds the simulator's lock."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.anchors: dict[str, _Anchor] = {}
        self.observed: dict[dt.date, dict[str, AccountClose]] = {}
        self.today: dt.date | None = None
        self._synthetic: dict[tuple[str, dt.date], AccountClose] = {}
        self.corrections: dict[tuple[str, dt.date], Correction] = {}

    def start(self, book: Book, today: dt.date) -> None:
        """Forget everything: the book as it is today anchors every account's past."""
        self.anchors.clear()
        self.observed.clear()
        self._synthetic.clear()
        self.today = today
        self.anchor_new_accounts(book, today)

    def anchor_new_accounts(self, book: Book, today: dt.date) -> None:
        """Accounts not seen before get a seeded past ending at their state today."""
        for account in book.accounts:
            if account.account_id not in self.anchors:
                contracts = {position.conid: copy.copy(book.contract(position.conid))
                             for position in account.positions}
                self.anchors[account.account_id] = _Anchor(
                    day=today, account=copy.deepcopy(account), contracts=contracts)

    def observe(self, book: Book, today: dt.date) -> None:
        """Called before anything reads or changes the book: when the date moved on, the book as
        it stands closes every business day from the last date seen up to yesterday."""
        if self.today is None:
            self.start(book, today)
            return
        if today > self.today:
            for day in business_days(self.today, today - dt.timedelta(days=1)):
                self.observed[day] = {account.account_id: close_from_book(book, account, day, True)
                                      for account in book.accounts}
            self.today = today
        self.anchor_new_accounts(book, today)

    def opened_on(self, account_id: str) -> dt.date | None:
        """The first day of an account's history (None for an account never seen)."""
        anchor = self.anchors.get(account_id)
        if anchor is None:
            return None
        return anchor.day - dt.timedelta(days=ACCOUNT_HISTORY_DAYS)

    def last_closed_day(self) -> dt.date:
        """The newest business day with a close (yesterday or the Friday before)."""
        assert self.today is not None, "observe() first"
        return previous_business_day(self.today)

    def _source(self, account_id: str, day: dt.date) -> AccountClose | _Anchor | None:
        """Where a day's close comes from: an observed close, the anchor's seeded past, none."""
        if self.today is None or day >= self.today or not is_business_day(day):
            return None
        observed = self.observed.get(day, {}).get(account_id)
        if observed is not None:
            return observed
        anchor = self.anchors.get(account_id)
        if anchor is None or day >= anchor.day:
            return None
        opened = self.opened_on(account_id)
        if opened is None or day < opened:
            return None
        return anchor

    def close(self, account_id: str, day: dt.date) -> AccountClose | None:
        """The account at `day`'s end; None for today, the future, weekends and before opening."""
        source = self._source(account_id, day)
        if isinstance(source, _Anchor):
            key = (account_id, day)
            if key not in self._synthetic:
                self._synthetic[key] = self._synthetic_close(source, day)
            source = self._synthetic[key]
        correction = self.corrections.get((account_id, day))
        if source is None or correction is None:
            return source
        return correction.apply(source)

    def nav(self, account_id: str, day: dt.date) -> float | None:
        """Only the NAV of `close()` (much cheaper for a seeded day: no positions built)."""
        source = self._source(account_id, day)
        if source is None:
            return None
        correction = self.corrections.get((account_id, day))
        if correction is not None and correction.nav is not None:
            return correction.nav
        if isinstance(source, _Anchor):
            return self._synthetic_nav(source, day)
        return source.nav

    def correct(self, account_id: str, day: dt.date, nav: float | None,
                quantities: dict[int, float]) -> Correction:
        """Make a past day's close differ from what the gateway showed (reconciliation tests):
        another NAV and/or other quantities (0 removes a position)."""
        if self.close(account_id, day) is None:
            raise ValueError(f"{account_id} has no close on {day.isoformat()} (today, the "
                             "future, a weekend, before opening, or an unknown account)")
        correction = Correction(nav=nav, quantities=dict(quantities))
        self.corrections[(account_id, day)] = correction
        return correction

    def navs(self, account_id: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, float]]:
        """(day, NAV) of every close from `start` to `end` (days without one left out)."""
        found = []
        for day in business_days(start, end):
            nav = self.nav(account_id, day)
            if nav is not None:
                found.append((day, nav))
        return found

    def closes(self, account_id: str, start: dt.date, end: dt.date) -> list[AccountClose]:
        """Every close of an account from `start` to `end` (days without one left out)."""
        found = []
        for day in business_days(start, end):
            closed = self.close(account_id, day)
            if closed is not None:
                found.append(closed)
        return found

    def _synthetic_close(self, anchor: _Anchor, day: dt.date) -> AccountClose:
        """A seeded day's close: Book.position_value's arithmetic on the day's prices (no
        Book is built: a year of the demo book is 65,000 positions)."""
        prices = self._past_prices(anchor, count_business_days_after(day, anchor.day))
        positions = []
        for position in anchor.account.positions:
            contract = anchor.contracts[position.conid]
            past = object.__new__(Contract)  # a copy with another price (replace() is slow)
            past.__dict__.update(contract.__dict__)
            past.price = prices[position.conid]
            market_value = position.quantity * past.price * past.multiplier
            cost = position.quantity * position.average_price * past.multiplier
            positions.append(PositionClose(
                contract=past, quantity=position.quantity, average_price=position.average_price,
                market_value=round(market_value, 2),
                unrealized_pnl=round(market_value - cost, 2)))
        account = anchor.account
        return AccountClose(account_id=account.account_id, base_currency=account.base_currency,
                            title=account.title, account_type=account.account_type, day=day,
                            nav=self._synthetic_nav(anchor, day), cash=dict(account.cash),
                            positions=tuple(positions), observed=False)

    def _past_prices(self, anchor: _Anchor, steps: int) -> dict[int, float]:
        """Every contract's price `steps` business days before the anchor day (kept)."""
        prices = anchor.prices.get(steps)
        if prices is None:
            prices = {}
            for conid, contract in anchor.contracts.items():
                if contract.asset_class in ("FUT", "FOP"):
                    # Futures settle their P&L into cash every day; a walk of their price
                    # would swing the NAV by the whole notional. Their past price stays flat.
                    prices[conid] = contract.price
                else:
                    factor = math.exp(-self._walk(anchor, conid, steps))
                    prices[conid] = round(max(contract.price * factor, 0.01), 4)
            anchor.prices[steps] = prices
        return prices

    def _synthetic_nav(self, anchor: _Anchor, day: dt.date) -> float:
        """Book.net_liquidation's arithmetic, step for step, on the day's seeded prices."""
        key = (anchor.account.account_id, day)
        cached = anchor.navs.get(key)
        if cached is not None:
            return cached
        prices = self._past_prices(anchor, count_business_days_after(day, anchor.day))
        account, base = anchor.account, anchor.account.base_currency
        total = sum(amount * exchange_rate(currency, base)
                    for currency, amount in account.cash.items())
        for position in account.positions:
            contract = anchor.contracts[position.conid]
            price = prices[position.conid]
            market_value = position.quantity * price * contract.multiplier
            cost = position.quantity * position.average_price * contract.multiplier
            rounded_value, unrealized = round(market_value, 2), round(market_value - cost, 2)
            counted = unrealized if contract.asset_class in ("FUT", "FOP") else rounded_value
            total += counted * exchange_rate(contract.currency, base)
        anchor.navs[key] = round(total, 2)
        return anchor.navs[key]

    def _walk(self, anchor: _Anchor, conid: int, steps: int) -> float:
        """Sum of the last `steps` daily log returns of a contract before its anchor day."""
        walk = anchor.walks.get(conid)
        if walk is None or len(walk) <= steps:
            rng = random.Random(f"{self.seed}:{conid}:{anchor.day.isoformat()}")  # noqa: S311
            walk, total = [0.0], 0.0
            for _ in range(ACCOUNT_HISTORY_DAYS + 1):
                total += rng.gauss(0.0002, DAILY_VOLATILITY)
                walk.append(total)
            anchor.walks[conid] = walk
        return walk[steps]
