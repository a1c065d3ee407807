"""The Flex Web Service's rules: tokens, saved queries, reference codes, rate limits, errors.

Every decision is made here and handed to `flex.api` as a `FlexOutcome`; the XML of a ready
statement is built by `flex.statement`. Times are the simulator's clock (`state.now()`), so
tests move token expiry, rate windows and generation delays without sleeping.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ibkr_gateway_sim.flex.faults import FlexFaults

# IBKR's error table (ibkr-flex.md section 5); messages as IBKR words them.
ERROR_MESSAGES = {
    1001: "Statement could not be generated at this time. Please try again shortly.",
    1003: "Statement is not available.",
    1004: "Statement is incomplete at this time. Please try again shortly.",
    1005: "Settlement data is not ready at this time. Please try again shortly.",
    1006: "FIFO P/L data is not ready at this time. Please try again shortly.",
    1007: "MTM P/L data is not ready at this time. Please try again shortly.",
    1008: "MTM and FIFO P/L data is not ready at this time. Please try again shortly.",
    1009: "The server is under heavy load. Statement could not be generated at this time. "
          "Please try again shortly.",
    1010: "Legacy Flex Queries are no longer supported. Please convert over to Activity Flex.",
    1011: "Service account is inactive.",
    1012: "Token has expired.",
    1013: "IP restriction.",
    1014: "Query is invalid.",
    1015: "Token is invalid.",
    1016: "Account in invalid.",  # sic: IBKR's own text
    1017: "Reference code is invalid.",
    1018: "Too many requests have been made from this token. Please try again shortly. "
          "Limit: 1 request per second, 10 requests per minute per token.",
    1019: "Statement generation in progress. Please try again shortly.",
    1020: "Invalid request or unable to validate request.",
    1021: "Statement could not be retrieved at this time. Please try again shortly.",
}

SECTIONS = ("AccountInformation", "ChangeInNAV", "EquitySummaryInBase", "CashReport",
            "OpenPositions", "Trades", "CashTransactions", "ConversionRates")
PERIODS = ("LastBusinessDay", "Last7CalendarDays", "Last30CalendarDays", "Last365CalendarDays",
           "MonthToDate", "YearToDate", "LastNCalendarDays")
STEPS = ("SendRequest", "GetStatement")
MAX_DAYS_PER_REQUEST = 365
DEFAULT_TOKEN_LIFETIME_S = 6 * 3600.0  # IBKR's default "Should Expire After"
REFERENCE_LIFETIME_S = 3600.0  # UNVERIFIED how long IBKR keeps a reference code

DEMO_TOKEN = "463927185020316478529401"  # noqa: S105 (a made-up token the demo documents)
DEMO_QUERY_ID = "987654"  # the last 365 days, every section, positions at each day's end
DEMO_DAILY_QUERY_ID = "987655"  # the last business day


@dataclass
class FlexToken:
    """A token as generated in Client Portal: expiry and an optional IP binding."""

    token: str
    expires_at: float  # simulator clock seconds
    ip: str | None = None
    active: bool = True  # False: the Flex Web Service is switched off (1011)

    def as_json(self, now: float) -> dict[str, Any]:
        """The token as `/sim/flex/tokens` lists it."""
        return {"token": self.token, "expires_in_s": round(self.expires_at - now, 3),
                "expired": now >= self.expires_at, "ip": self.ip, "active": self.active}


@dataclass
class FlexQuery:
    """A saved Activity Flex Query: its period, sections and accounts."""

    query_id: str
    name: str = "Veracity daily history"
    period: str = "Last365CalendarDays"
    days: int | None = None  # for LastNCalendarDays
    sections: tuple[str, ...] = SECTIONS
    accounts: tuple[str, ...] | None = None  # None: every account of the user
    output: str = "XML"  # or "CSV" (the statement then comes back as CSV text)
    legacy: bool = False  # a legacy (pre-Activity) query: 1010
    positions: str = "daily"  # "daily": OpenPositions at each day's end; "end": last day only
    date_format: str = "yyyyMMdd"  # or "yyyy-MM-dd"
    quirks: bool = False  # parser edge cases: unknown attribute/section, "" and "-", commas

    def as_json(self) -> dict[str, Any]:
        """The query as `/sim/flex/queries` lists it."""
        return {"query_id": self.query_id, "name": self.name, "period": self.period,
                "days": self.days, "sections": list(self.sections),
                "accounts": list(self.accounts) if self.accounts is not None else None,
                "output": self.output, "legacy": self.legacy, "positions": self.positions,
                "date_format": self.date_format, "quirks": self.quirks}


@dataclass
class PendingStatement:
    """A reference code handed out by SendRequest."""

    reference: str
    token: str
    query: FlexQuery
    from_date: dt.date
    to_date: dt.date
    period: str  # the FlexStatement's `period` attribute
    requested_at: float
    polls: int = 0
    generated_at: dt.datetime | None = None  # set when first served (whenGenerated)


@dataclass
class InjectedError:
    """An error code the next `remaining` calls of a step answer (None: until cleared)."""

    error_id: int
    code: int
    step: str | None  # SendRequest, GetStatement or None for both
    remaining: int | None


@dataclass
class FlexSettings:
    """Behaviour switches, all settable through `POST /sim/flex/config`."""

    generation_delay_s: float = 3.0  # clock seconds from SendRequest until the statement is ready
    generation_polls: int = 0  # at least this many 1019 answers before the statement
    in_progress_status: str = "Fail"  # or "Warn" (seen with 1019 in public fixtures)
    rate_limit_enabled: bool = True
    per_second: int = 1
    per_minute: int = 10

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; ValueError names a bad field (nothing is changed then)."""
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("generation_delay_s",):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name} must be a number of seconds, 0 or more")
                checked[name] = float(value)
            elif name in ("generation_polls", "per_second", "per_minute"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be an integer, 0 or more")
                checked[name] = value
            elif name == "in_progress_status":
                if value not in ("Fail", "Warn"):
                    raise ValueError("in_progress_status must be 'Fail' or 'Warn'")
                checked[name] = value
            elif name == "rate_limit_enabled":
                if not isinstance(value, bool):
                    raise ValueError("rate_limit_enabled must be true or false")
                checked[name] = value
            else:
                raise ValueError(f"unknown Flex option {name!r}")
        for name, value in checked.items():
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        """The settings as `/sim/flex/config` shows them."""
        return dict(self.__dict__)


@dataclass
class FlexOutcome:
    """What a Flex call answers: an error code, a reference code, 1019, or a statement."""

    error: int | None = None
    pending: PendingStatement | None = None  # SendRequest success, or GetStatement ready

    @property
    def ok(self) -> bool:
        """True when no error code is answered."""
        return self.error is None


@dataclass
class TokenUse:
    """Per-token counters for `/sim/flex/requests`."""

    accepted: deque[float] = field(default_factory=deque)  # times of counted requests
    count: int = 0
    refused_1018: int = 0
    min_interval_s: float | None = None


def parse_yyyymmdd(text: str | None) -> dt.date | None:
    """`20261204` → date; ValueError for anything else."""
    if text is None or len(text) != 8 or not text.isdigit():
        raise ValueError(f"not a yyyymmdd date: {text!r}")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))


class FlexService:
    """Tokens, queries, pending statements, rate windows and injected errors; the caller holds
    the simulator's lock."""

    def __init__(self) -> None:
        self.settings = FlexSettings()
        self.tokens: dict[str, FlexToken] = {}
        self.queries: dict[str, FlexQuery] = {}
        self.pending: dict[str, PendingStatement] = {}
        self.errors: list[InjectedError] = []
        self.transport = FlexFaults()
        self.usage: dict[str, TokenUse] = {}
        self.calls: dict[str, int] = {step: 0 for step in STEPS}
        self._error_ids = 0
        self._demo_added = False

    def reset(self) -> None:
        """Back to the demo token and queries only, with default settings."""
        self.transport.clear()  # releases answers a latency fault holds back
        self.__init__()  # type: ignore[misc]

    def add_demo(self, now: float) -> None:
        """The demo token (valid a year) and the demo queries (see docs/simulator.md)."""
        self.tokens[DEMO_TOKEN] = FlexToken(DEMO_TOKEN, expires_at=now + 365 * 86400.0)
        self.queries[DEMO_QUERY_ID] = FlexQuery(DEMO_QUERY_ID)
        self.queries[DEMO_DAILY_QUERY_ID] = FlexQuery(
            DEMO_DAILY_QUERY_ID, name="Veracity last business day", period="LastBusinessDay")
        self._demo_added = True

    def ensure_demo(self, now: float) -> None:
        """Add the demo token and queries once (the first time the service is used)."""
        if not self._demo_added:
            self.add_demo(now)

    # --- control ------------------------------------------------------------------------------

    def create_token(self, now: float, token: str | None = None,
                     expires_in_s: float = DEFAULT_TOKEN_LIFETIME_S, ip: str | None = None,
                     active: bool = True) -> FlexToken:
        """A new token; like Client Portal, generating one does not reuse a known value."""
        value = token or "".join(secrets.choice("0123456789") for _ in range(24))
        created = FlexToken(value, expires_at=now + expires_in_s, ip=ip, active=active)
        self.tokens[value] = created
        return created

    def inject_error(self, code: int, step: str | None, count: int | None) -> InjectedError:
        """Answer `code` to the next `count` calls of `step` (after the token checks)."""
        if code not in ERROR_MESSAGES:
            raise ValueError(f"code must be one of {', '.join(map(str, ERROR_MESSAGES))}")
        if step is not None and step not in STEPS:
            raise ValueError(f"step must be one of {', '.join(STEPS)} or null")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise ValueError("count must be a positive integer or null (until cleared)")
        self._error_ids += 1
        injected = InjectedError(self._error_ids, code, step, count)
        self.errors.append(injected)
        return injected

    # --- the two steps ------------------------------------------------------------------------

    def send_request(self, args: dict[str, str], remote_ip: str, now: float, today: dt.date,
                     account_ids: list[str], opened_on: dict[str, dt.date]) -> FlexOutcome:
        """Step 1: check everything, then hand out a reference code."""
        self.calls["SendRequest"] += 1
        refused = self._check_token(args, remote_ip, now, "SendRequest")
        if refused:
            return FlexOutcome(error=refused)
        query = self.queries.get(args.get("q", ""))
        if query is None:
            return FlexOutcome(error=1014)
        if query.legacy:
            return FlexOutcome(error=1010)
        accounts = list(query.accounts) if query.accounts is not None else account_ids
        if not accounts or any(account not in account_ids for account in accounts):
            return FlexOutcome(error=1016)
        try:
            dates = self._dates(args, query, today)
        except ValueError:
            return FlexOutcome(error=1020)
        if dates is None:
            return FlexOutcome(error=1020)
        from_date, to_date, period = dates
        last_closed = today - dt.timedelta(days=1)
        if to_date > last_closed or to_date < from_date:
            return FlexOutcome(error=1003)  # today's statement does not exist yet
        if all(opened_on.get(account, today) > to_date for account in accounts):
            return FlexOutcome(error=1003)  # before the accounts existed
        reference = "".join(secrets.choice("0123456789") for _ in range(10))
        pending = PendingStatement(reference=reference, token=args["t"], query=query,
                                   from_date=from_date, to_date=to_date, period=period,
                                   requested_at=now)
        self.pending[reference] = pending
        return FlexOutcome(pending=pending)

    def get_statement(self, args: dict[str, str], remote_ip: str, now: float) -> FlexOutcome:
        """Step 2: 1019 until the statement is ready, then the statement."""
        self.calls["GetStatement"] += 1
        refused = self._check_token(args, remote_ip, now, "GetStatement")
        if refused:
            return FlexOutcome(error=refused)
        pending = self.pending.get(args.get("q", ""))
        if pending is None or pending.token != args["t"] \
                or now - pending.requested_at > REFERENCE_LIFETIME_S:
            return FlexOutcome(error=1017)
        pending.polls += 1
        waited = now - pending.requested_at
        if waited < self.settings.generation_delay_s \
                or pending.polls <= self.settings.generation_polls:
            return FlexOutcome(error=1019)
        return FlexOutcome(pending=pending)

    # --- checks -------------------------------------------------------------------------------

    def _check_token(self, args: dict[str, str], remote_ip: str, now: float,
                     step: str) -> int | None:
        if not args.get("t") or not args.get("q") or args.get("v", "3") not in ("2", "3"):
            return 1020
        token = self.tokens.get(args["t"])
        if token is None:
            return 1015
        if not self._admit(token.token, now):
            return 1018
        if now >= token.expires_at:
            return 1012
        if token.ip is not None and token.ip != remote_ip:
            return 1013
        if not token.active:
            return 1011
        return self._take_injected(step)

    def _admit(self, token: str, now: float) -> bool:
        use = self.usage.setdefault(token, TokenUse())
        use.count += 1
        while use.accepted and now - use.accepted[0] >= 60.0:
            use.accepted.popleft()
        if self.settings.rate_limit_enabled:
            in_last_second = sum(1 for at in use.accepted if now - at < 1.0)
            if in_last_second >= self.settings.per_second \
                    or len(use.accepted) >= self.settings.per_minute:
                use.refused_1018 += 1
                return False
        if use.accepted:
            interval = round(now - use.accepted[-1], 6)
            if use.min_interval_s is None or interval < use.min_interval_s:
                use.min_interval_s = interval
        use.accepted.append(now)
        return True

    def _take_injected(self, step: str) -> int | None:
        for injected in self.errors:
            if injected.step in (None, step):
                if injected.remaining is not None:
                    injected.remaining -= 1
                self.errors = [e for e in self.errors if e.remaining is None or e.remaining > 0]
                return injected.code
        return None

    @staticmethod
    def _dates(args: dict[str, str], query: FlexQuery,
               today: dt.date) -> tuple[dt.date, dt.date, str] | None:
        """(from, to, period label) from fd/td or the query's period; None when malformed."""
        from_text, to_text = args.get("fd"), args.get("td")
        if from_text or to_text:
            if not (from_text and to_text):
                return None
            from_date, to_date = parse_yyyymmdd(from_text), parse_yyyymmdd(to_text)
            assert from_date is not None and to_date is not None
            if (to_date - from_date).days + 1 > MAX_DAYS_PER_REQUEST:
                return None
            return from_date, to_date, "CustomDateRange"
        yesterday = today - dt.timedelta(days=1)
        last_business = yesterday
        while last_business.weekday() >= 5:
            last_business -= dt.timedelta(days=1)
        spans = {"Last7CalendarDays": 7, "Last30CalendarDays": 30, "Last365CalendarDays": 365}
        if query.period == "LastBusinessDay":
            return last_business, last_business, query.period
        if query.period in spans:
            return today - dt.timedelta(days=spans[query.period]), yesterday, query.period
        if query.period == "LastNCalendarDays":
            days = query.days or 1
            return today - dt.timedelta(days=days), yesterday, f"Last{days}CalendarDays"
        if query.period == "MonthToDate":
            return today.replace(day=1), yesterday, query.period
        if query.period == "YearToDate":
            return today.replace(month=1, day=1), yesterday, query.period
        return None

    def report(self, now: float) -> dict[str, Any]:
        """Counters as `GET /sim/flex/requests` reports them."""
        tokens = {}
        for token, use in self.usage.items():
            tokens[token] = {"count": use.count, "refused_1018": use.refused_1018,
                             "min_interval_s": use.min_interval_s}
        return {"calls": dict(self.calls), "tokens": tokens,
                "pending": len(self.pending),
                "errors": [{"id": e.error_id, "code": e.code, "step": e.step,
                            "remaining": e.remaining} for e in self.errors],
                "faults": [fault.as_json() for fault in self.transport.faults]}
