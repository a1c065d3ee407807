"""The engine's history duty: a year of NAV through the gateway once, and opt-in Flex daily.

Gateway (`/pa/performance`): once per pairing, when the gateway session is good. The request
time is saved *before* asking, so neither a retry nor a restart asks again within IBKR's 15-minute
pacing window; a refusal (paced, not logged in, an error, an unreadable series) plans one later
try — the wait grows with each failure, up to six hours — never a loop. The series is queued in
the outbox whole (one transaction) or not at all.

Flex (only when the person set it up): right after set-up, one statement for the last 365
published days (one SendRequest, the fewest the limits allow); then, once a day after IBKR
publishes the previous day (06:00 New York time), what is missing since the newest day queued.
Days without a business day (a weekend) are not asked for. A Flex fetch polls for minutes, so it
runs in its own thread; the engine's loop goes on with tickles and delivery meanwhile.

Both keep their progress in `history.json` (`history_state`); batches wait in the outbox until
Veracity acknowledges them (the delivery calls `acknowledged`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from veracity_connector.gateway import GatewayClient
from veracity_connector.gateway.errors import (
    GatewayError,
    GatewayNoBridge,
    GatewayNotAuthenticated,
    GatewayRateLimited,
)
from veracity_connector.history.flex_client import POLL_WAITS_S, FlexClient
from veracity_connector.history.flex_errors import (
    MALFORMED,
    PROBLEMS_BY_CODE,
    QUERY_MISSING_SECTION,
    UNREACHABLE,
    FlexError,
)
from veracity_connector.history.flex_pacing import FlexPacer, FlexPacingStopped
from veracity_connector.history.flex_setup import FlexSetup, flex_configured, load_flex_setup
from veracity_connector.history.flex_statement import parse_statement
from veracity_connector.history.gateway_history import (
    PA_PACING_WINDOW_S,
    GatewayHistoryUnreadable,
    fetch_nav_history,
)
from veracity_connector.history.history_state import (
    DutyState,
    HistoryState,
    load_history_state,
    save_history_state,
)
from veracity_connector.history.payload import HistoryLimits, batches, iter_days
from veracity_connector.history.points import DailySeries
from veracity_connector.outbox import HISTORY, Outbox, OutboxItem

if TYPE_CHECKING:
    from veracity_connector.doctor import Check

logger = logging.getLogger(__name__)
GATEWAY_FINE = {"pending", "requesting", "done"}

MAX_RETRY_WAIT_S = 6 * 3600.0
FLEX_RETRY_WAIT_S = 30 * 60.0  # the first wait after a transient Flex failure
FLEX_FATAL_WAIT_S = 24 * 3600.0  # a token or query the person must fix: asked once a day
BACKFILL_DAYS = 365  # Flex's longest period per request
IBKR_TIMEZONE = ZoneInfo("America/New_York")
PUBLISHED_HOUR = 6  # IBKR's activity statements for a day are out by early next morning (ET)


def latest_published_day(now: float) -> date:
    """The newest day whose Flex activity statement IBKR has published at wall time `now`."""
    local = datetime.fromtimestamp(now, IBKR_TIMEZONE)
    day = local.date() - timedelta(days=1)
    return day if local.hour >= PUBLISHED_HOUR else day - timedelta(days=1)


def published_at(day: date) -> float:
    """When the statement of `day` is expected (wall time): the next morning in New York."""
    following = day + timedelta(days=1)
    return datetime(following.year, following.month, following.day, PUBLISHED_HOUR,
                    tzinfo=IBKR_TIMEZONE).timestamp()


def _retry_wait(first_s: float, failures: int) -> float:
    return min(first_s * 2 ** max(0, failures - 1), MAX_RETRY_WAIT_S)


class HistoryDuty:
    """Runs the gateway backfill and the Flex fetches when due; thread-safe state updates."""

    def __init__(self, *, data_dir: Path, key_store: str, gateway: GatewayClient,
                 outbox: Outbox, flex_url: str, proxy: str | None,
                 stop_event: threading.Event,
                 wall_clock: Callable[[], float] = time.time,
                 limits: Callable[[], HistoryLimits] = HistoryLimits,
                 flex_poll_waits_s: tuple[float, ...] | None = None,
                 known_accounts: Callable[[], list[str]] = list) -> None:
        self._data_dir = data_dir
        self._key_store = key_store
        self._gateway = gateway
        self._outbox = outbox
        self._flex_url = flex_url
        self._proxy = proxy
        self._stop_event = stop_event
        self._wall_clock = wall_clock
        self._limits = limits
        self._flex_poll_waits_s = flex_poll_waits_s
        # The accounts the latest snapshot read: saves a paced /portfolio/accounts call.
        self._known_accounts = known_accounts
        self._lock = threading.Lock()
        self._flex_thread: threading.Thread | None = None
        self.flex_pacer = FlexPacer(data_dir, stop_event=stop_event)
        self.queued = threading.Event()  # set when batches were queued (delivery is due)

    # --- state ---------------------------------------------------------------------------

    def state(self) -> HistoryState:
        """The saved progress (of the current pairing)."""
        with self._lock:
            return load_history_state(self._data_dir)

    def _update(self, change: Callable[[HistoryState], None]) -> HistoryState:
        with self._lock:
            state = load_history_state(self._data_dir)
            change(state)
            save_history_state(self._data_dir, state)
            return state

    def acknowledged(self, item: OutboxItem) -> None:
        """Veracity stored (or had) a queued batch: remember its newest day per source."""
        source = "flex" if item.snapshot_id.startswith("history-flex-") else "gateway"
        newest = max(iter_days(item.body), default=None)
        if newest is None:
            return

        def note(state: HistoryState) -> None:
            duty = state.flex if source == "flex" else state.gateway
            if duty.acknowledged_day is None or newest.isoformat() > duty.acknowledged_day:
                duty.acknowledged_day = newest.isoformat()
        self._update(note)

    # --- the duty ------------------------------------------------------------------------

    def run_due(self, *, gateway_ok: bool, flex_in_thread: bool = True) -> bool:
        """Do what is due now; True if batches were queued (delivery should run)."""
        queued = False
        if gateway_ok:
            queued |= self._gateway_backfill_if_due()
        if flex_configured(self._data_dir):
            queued |= self._flex_if_due(in_thread=flex_in_thread)
        if self.queued.is_set():  # a Flex thread queued batches since the last step
            self.queued.clear()
            queued = True
        return queued

    def _gateway_backfill_if_due(self) -> bool:
        now = self._wall_clock()
        state = self.state()
        duty = state.gateway
        if duty.done or now < duty.next_try_at:
            return False
        if duty.last_request_at is not None and 0 <= now - duty.last_request_at \
                < PA_PACING_WINDOW_S:
            return False  # IBKR's pacing window: never ask twice within it

        def asking(saved: HistoryState) -> None:
            saved.gateway.last_request_at = now
            saved.gateway.requests += 1
            saved.gateway.state = "requesting"
        self._update(asking)  # saved first: a crash mid-request does not ask again too soon
        try:
            accounts = self._known_accounts() or [
                account.account_id for account in self._gateway.portfolio.accounts()]
            series = fetch_nav_history(self._gateway.transport, accounts)
        except GatewayError as error:
            self._gateway_failed(error, now)
            return False
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # An answer shaped unlike the gateway's: refused whole like an unreadable series.
            self._gateway_failed(GatewayHistoryUnreadable(
                f"an answer the connector cannot read ({error.__class__.__name__})"), now)
            return False
        queued = self._queue(series)
        message = (f"A year of daily values ({series.days} days, {len(accounts)} account(s)) "
                   "was read from the gateway and is being sent to Veracity.")

        def done(saved: HistoryState) -> None:
            saved.gateway.done = True
            saved.gateway.state = "done"
            saved.gateway.message = message
            saved.gateway.failures = 0
            saved.gateway.last_success_at = now
            saved.gateway.last_day = series.last_day.isoformat() if series.last_day else None
        self._update(done)
        logger.info("gateway history: %d point(s) over %d day(s) queued in %d batch(es)",
                    len(series.points), series.days, queued)
        return queued > 0

    def _gateway_failed(self, error: GatewayError, now: float) -> None:
        if isinstance(error, GatewayRateLimited):
            state, message = "paced", ("The gateway paces Portfolio Analyst (1 request per 15 "
                                       "minutes); the year of history is asked for again later.")
        elif isinstance(error, GatewayNotAuthenticated | GatewayNoBridge):
            state, message = "not_logged_in", ("The gateway is not logged in; the year of "
                                               "history is read once you log in.")
        elif isinstance(error, GatewayHistoryUnreadable):
            state, message = "unreadable", (f"The gateway's history could not be read "
                                            f"({error.message}); nothing of it was kept, it is "
                                            "asked for again later.")
        else:
            state, message = "refused", (f"The gateway refused the history request "
                                         f"({error.message}); it is asked for again later.")

        def failed(saved: HistoryState) -> None:
            saved.gateway.failures += 1
            saved.gateway.state = state
            saved.gateway.message = message
            # At least IBKR's pacing window, growing with each failure: never a loop.
            saved.gateway.next_try_at = now + _retry_wait(PA_PACING_WINDOW_S,
                                                          saved.gateway.failures)
        saved = self._update(failed)
        logger.warning("gateway history: %s (next try in %.0f min)", state,
                       (saved.gateway.next_try_at - now) / 60)

    # --- Flex ----------------------------------------------------------------------------

    def _flex_if_due(self, *, in_thread: bool) -> bool:
        if self._flex_thread is not None and self._flex_thread.is_alive():
            return False
        now = self._wall_clock()
        state = self.state()
        try:
            setup = load_flex_setup(self._key_store, self._data_dir)
        except Exception as error:  # the credential store is away: try again later
            logger.warning("cannot read the Flex set-up: %s", error.__class__.__name__)
            return False
        if setup is None:
            return False
        duty = state.flex
        if duty.setup_at != setup.set_at:
            # A new set-up (a new token or query): its progress starts over with a backfill.
            def fresh(saved: HistoryState) -> None:
                saved.flex = DutyState(setup_at=setup.set_at,
                                       requests=saved.flex.requests)
            state = self._update(fresh)
            duty = state.flex
        if now < duty.next_try_at:
            return False
        if in_thread:
            self._flex_thread = threading.Thread(target=self.fetch_flex, args=(setup,),
                                                 name="flex-history", daemon=True)
            self._flex_thread.start()
            return False
        return self.fetch_flex(setup)

    def flex_range(self, duty: DutyState, now: float) -> tuple[date, date] | None:
        """The days to ask Flex for now, or None if nothing new is published."""
        newest = latest_published_day(now)
        if not duty.done or duty.last_day is None:
            return newest - timedelta(days=BACKFILL_DAYS - 1), newest
        first = date.fromisoformat(duty.last_day) + timedelta(days=1)
        first = max(first, newest - timedelta(days=BACKFILL_DAYS - 1))
        if first > newest:
            return None
        return first, newest

    def fetch_flex(self, setup: FlexSetup) -> bool:
        """Fetch what is due from Flex, queue it whole; True if batches were queued."""
        now = self._wall_clock()
        duty = self.state().flex
        days = self.flex_range(duty, now)
        if days is None or all(day.weekday() >= 5 for day in _days(*days)):
            # Nothing published since the last fetch (or only a weekend): next publication.
            last = days[1] if days else latest_published_day(now)

            def wait(saved: HistoryState) -> None:
                if days is not None:
                    saved.flex.last_day = last.isoformat()
                saved.flex.next_try_at = published_at(last + timedelta(days=1))
            self._update(wait)
            return False
        first, last = days

        def asking(saved: HistoryState) -> None:
            # Saved before asking: whatever happens to this fetch (a crash, a bug), the next
            # try is not before this, so the Flex service is never asked in a loop.
            saved.flex.state = "requesting" if saved.flex.state == "pending" else saved.flex.state
            saved.flex.last_request_at = now
            saved.flex.next_try_at = now + _retry_wait(FLEX_RETRY_WAIT_S,
                                                       saved.flex.failures + 1)
        self._update(asking)
        client = FlexClient(self._flex_url, setup.token, setup.query_id, self.flex_pacer,
                            proxy=self._proxy, stop_event=self._stop_event,
                            poll_waits_s=self._flex_poll_waits_s or POLL_WAITS_S)
        try:
            statement = client.fetch(first, last)
            series = parse_statement(statement.xml)
        except FlexError as error:
            self._flex_failed(error, now, client.requests)
            return False
        except FlexPacingStopped:
            return False
        except Exception:  # a bug must not end the thread with the state half written
            logger.exception("Flex history: unexpected error; tried again later")
            return False
        finally:
            client.close()
        queued = self._queue(series)
        message = (f"Flex: {series.days} day(s) from {first.isoformat()} to {last.isoformat()} "
                   f"read and being sent to Veracity.")

        def done(saved: HistoryState) -> None:
            flex = saved.flex
            flex.requests += client.requests
            flex.done = True
            flex.state = "ok"
            flex.message = message
            flex.failures = 0
            flex.last_success_at = now
            flex.last_request_at = now
            flex.last_day = last.isoformat()
            flex.next_try_at = published_at(last + timedelta(days=1))
        self._update(done)
        logger.info("Flex history: %d point(s) over %d day(s) queued in %d batch(es), "
                    "%d Flex request(s)", len(series.points), series.days, queued,
                    client.requests)
        if queued:
            self.queued.set()
        return queued > 0

    def _flex_failed(self, error: FlexError, now: float, requests: int) -> None:
        problem = error.problem

        def failed(saved: HistoryState) -> None:
            flex = saved.flex
            flex.requests += requests
            flex.failures += 1
            flex.last_request_at = now
            flex.state = problem.state
            flex.message = f"{problem.message} {problem.next_step}"
            flex.next_try_at = now + (_retry_wait(FLEX_RETRY_WAIT_S, flex.failures)
                                      if problem.retry else FLEX_FATAL_WAIT_S)
        self._update(failed)
        logger.warning("Flex history: %s%s", problem.state,
                       f" (IBKR code {error.code})" if error.code else "")

    def _queue(self, series: DailySeries) -> int:
        found = batches(series, self._limits())
        if found:
            now_text = datetime.fromtimestamp(self._wall_clock()).astimezone().isoformat()
            self._outbox.put_many([(batch.item_id, now_text, batch.body) for batch in found],
                                  HISTORY)
        return len(found)

    def health_checks(self) -> list[Check]:
        """History's states as checks for the heartbeat's health summary (no network)."""
        from veracity_connector.doctor import Check

        state = self.state()
        gateway = state.gateway
        checks = [Check("history gateway", "ok" if gateway.state in GATEWAY_FINE else "warn",
                        f"{gateway.state}: {gateway.message}" if gateway.message
                        else gateway.state)]
        if flex_configured(self._data_dir):
            flex = state.flex
            problem = next((known for known in (*PROBLEMS_BY_CODE.values(), MALFORMED,
                                                QUERY_MISSING_SECTION, UNREACHABLE)
                            if known.state == flex.state), None)
            level = "ok" if problem is None else ("warn" if problem.retry else "fail")
            checks.append(Check("history flex", level, f"{flex.state}: {flex.message}"
                                if flex.message else flex.state,
                                problem.next_step if problem is not None else ""))
        return checks

    def wait_for_flex(self, timeout_s: float) -> None:
        """Wait for a running Flex fetch to end (tests, shutdown)."""
        thread = self._flex_thread
        if thread is not None:
            thread.join(timeout_s)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
