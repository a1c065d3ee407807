"""Everything one running simulator holds, behind one lock shared by all request threads."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ibkr_gateway_sim import gateway_shapes
from ibkr_gateway_sim.faults import FaultBoard
from ibkr_gateway_sim.flex.service import FlexService
from ibkr_gateway_sim.nav_history import NavHistory
from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.pacing import Pacer
from ibkr_gateway_sim.portfolio import Book
from ibkr_gateway_sim.scenario import SCENARIOS
from ibkr_gateway_sim.session import Clock, GatewaySession, SystemClock
from ibkr_gateway_sim.session_events import SessionTimeline


def build_book(scenario: str, seed: int) -> Book:
    """The book of a named scenario; ValueError for an unknown name."""
    try:
        return SCENARIOS[scenario](seed)
    except KeyError:
        raise ValueError(
            f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}") from None


# IBKR's business days and Flex timestamps follow New York time.
IBKR_TIME_ZONE = ZoneInfo("America/New_York")


@dataclass
class PositionsCache:
    """The paged positions endpoint answers from a cached list, like the real gateway."""

    taken_at: float
    rows: list[dict[str, Any]] = field(default_factory=list)


class SimulatorState:
    """The book, the session, pacing, faults and caches of one simulator."""

    def __init__(self, options: SimulatorOptions, clock: Clock | None = None) -> None:
        self.options = options
        self.clock: Clock = clock or SystemClock()
        # The simulated wall clock: real time at start, then moved by the (maybe manual) clock,
        # so advancing a manual clock by a day makes the simulated date move on by a day.
        self.wall_origin = time.time()
        self.clock_origin = self.clock.now()
        self.lock = threading.RLock()
        self.book = build_book(options.scenario, options.seed)
        self.history = NavHistory(options.seed)
        self.history.start(self.book, self.today())
        self.flex = FlexService()
        self.session = GatewaySession(idle_timeout_s=options.idle_timeout_s)
        self.pacer = Pacer(penalty_box_s=options.penalty_box_s, enabled=options.pacing_enabled,
                           penalize_endpoint_limits=options.penalize_endpoint_limits)
        self.faults = FaultBoard()
        self.timeline = SessionTimeline()
        self.positions_cache: dict[str, PositionsCache] = {}
        self.selected_account = self.book.accounts[0].account_id if self.book.accounts else ""
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if options.logged_in_at_start:
            self.session.login(self.now())

    def now(self) -> float:
        """Seconds on the simulator's clock (monotonic, or manual in tests)."""
        return self.clock.now()

    def wall_time(self) -> float:
        """Epoch seconds on the simulated wall clock (real time unless the clock is manual)."""
        return self.wall_origin + (self.clock.now() - self.clock_origin)

    def wall_ms(self) -> int:
        """Epoch milliseconds for timestamps in gateway answers."""
        return int(self.wall_time() * 1000)

    def local_now(self) -> dt.datetime:
        """The simulated time in New York (IBKR's business day and Flex timestamps)."""
        return dt.datetime.fromtimestamp(self.wall_time(), IBKR_TIME_ZONE)

    def today(self) -> dt.date:
        """The simulated date in New York."""
        return self.local_now().date()

    def observe_history(self) -> None:
        """Close the days that ended since the last look (call with the lock held, before
        anything reads or changes the book)."""
        self.history.observe(self.book, self.today())

    def apply_options(self) -> None:
        """Push changed options into the parts that copy them."""
        self.session.idle_timeout_s = self.options.idle_timeout_s
        self.pacer.penalty_box_s = self.options.penalty_box_s
        self.pacer.enabled = self.options.pacing_enabled
        self.pacer.penalize_endpoint_limits = self.options.penalize_endpoint_limits
        self.restart_price_ticker()

    def reset(self, scenario: str | None = None, seed: int | None = None) -> None:
        """Back to a fresh start: new book, logged out, no counters, faults or caches."""
        scenario = self.options.scenario if scenario is None else scenario
        seed = self.options.seed if seed is None else seed
        self.book = build_book(scenario, seed)  # raises before anything changes
        self.options.scenario, self.options.seed = scenario, seed
        self.session.logout(reason="reset")
        self.session.lapsed_reason = ""
        self.pacer.clear()
        self.faults.clear()
        self.timeline.clear()
        self.positions_cache.clear()
        self.history = NavHistory(seed)
        self.history.start(self.book, self.today())
        self.flex.reset()
        self.selected_account = self.book.accounts[0].account_id if self.book.accounts else ""
        if self.options.logged_in_at_start:
            self.session.login(self.now())

    def book_changed(self) -> None:
        """Accounts or positions were replaced: cached pages and selections must follow."""
        self.positions_cache.clear()
        self.history.anchor_new_accounts(self.book, self.today())
        ids = [account.account_id for account in self.book.accounts]
        if self.selected_account not in ids:
            self.selected_account = ids[0] if ids else ""

    def cached_positions(self, account_id: str) -> list[dict[str, Any]]:
        """The rows the paged endpoint serves: refreshed when missing, invalidated or stale."""
        account = self.book.account(account_id)
        if account is None:
            return []
        now = self.now()
        cache = self.positions_cache.get(account_id)
        if cache is None or now - cache.taken_at >= self.options.positions_cache_s:
            cache = PositionsCache(taken_at=now,
                                   rows=gateway_shapes.positions_rows(self.book, account))
            self.positions_cache[account_id] = cache
        return cache.rows

    def state_json(self) -> dict[str, Any]:
        """`GET /sim/state`: the book in the gateway's own field names."""
        accounts = []
        for account in self.book.accounts:
            accounts.append({
                "account_id": account.account_id,
                "base_currency": account.base_currency,
                "title": account.title,
                "net_liquidation": self.book.net_liquidation(account),
                "cash": dict(account.cash),
                "positions": gateway_shapes.positions_rows(self.book, account),
                "orders": [gateway_shapes.order_row(self.book, order)
                           for order in account.orders],
            })
        return {"accounts": accounts, "selected_account": self.selected_account}

    # Prices move on their own only when an interval is set; a worker thread does it.
    def restart_price_ticker(self) -> None:
        """Start, restart or stop the automatic price ticks to match the options."""
        self.stop_price_ticker()
        interval = self.options.price_tick_interval_s
        if not interval:
            return
        self._ticker_stop = threading.Event()
        stop = self._ticker_stop

        def tick_until_stopped() -> None:
            while not stop.wait(interval):
                with self.lock:
                    self.observe_history()  # a day that ended closes at its last prices
                    self.book.tick_prices()

        self._ticker = threading.Thread(target=tick_until_stopped, name="sim-price-ticker",
                                        daemon=True)
        self._ticker.start()

    def stop_price_ticker(self) -> None:
        """Stop the automatic price ticks (if running)."""
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
