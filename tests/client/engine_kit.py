"""What the engine tests share: a clock the test moves (the simulator's `ManualClock`), a book
on the simulator, an engine that talks to the simulator and a live Veracity server, with its key
in a file (no keyring)."""

from __future__ import annotations

import itertools
import time
from typing import Any

# The simulator's clock that moves only when told to: the engine schedules on its `now`.
from ibkr_gateway_sim.session import ManualClock
from veracity_connector.credentials import FileStore
from veracity_connector.engine import Engine
from veracity_connector.settings import Folders, Settings

EMAIL_NUMBERS = itertools.count()
# Where the engine tests' clock starts: far from zero, like a machine's monotonic clock after
# days of uptime, so no "never happened" zero can pass for a recent moment.
CLOCK_START = 1_700_000_000.0
# Two positions and two working orders (a stop and a limit) in one account.
SMALL_BOOK = [{
    "account_id": "U1", "base_currency": "USD", "cash": {"USD": 1000},
    "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10.5, "quantity": 3},
                  {"conid": 9002, "ticker": "BOLT", "market_price": 20, "quantity": -4}],
    "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9.5", "quantity": 3},
               {"conid": 9002, "order_type": "Limit", "price": "19", "quantity": 4,
                "side": "BUY"}],
}]


def serve_book(simulator: Any, accounts: list[dict[str, Any]]) -> Any:
    """The simulator shows `accounts`, logged in, with no caching or empty first answers in the
    way of a test that reads what it just set."""
    simulator.control.configure(preflight_empty_orders=False, positions_cache_s=0)
    simulator.control.set_accounts(accounts)
    simulator.control.login()
    return simulator


def make_engine(simulator: Any, server: Any, folders: Folders,
                clock: ManualClock | None = None, **settings: Any) -> Engine:
    """An engine on the simulator and `server`, scheduling on `clock` (the real monotonic
    clock without one); `settings` override Settings' fields."""
    configured = Settings(veracity_url=server.base_url, gateway_url=simulator.base_url,
                          key_store="file", rate_limit_backoff_s=1, **settings)
    return Engine(configured, folders, credentials=FileStore(folders.data_dir / "connector-key"),
                  clock=clock.now if clock is not None else time.monotonic)


def new_user(server: Any, prefix: str = "engine") -> str:
    """A new Veracity user's email."""
    email = f"{prefix}-{next(EMAIL_NUMBERS)}@example.com"
    server.create_user(email)
    return email
