"""Daily history: a past NAV per account and day, from the gateway or from Flex (issue 19).

The connector sends what IBKR answers about the past: Portfolio Analyst's `/pa/performance`
(source "gateway": one NAV per day, in the account's base currency) or a Flex statement (source
"flex": the NAV of EquitySummaryByReportDateInBase and, when the query has OpenPositions, each
day's end-of-day positions). One request carries one source. Veracity stores each (account,
report date, source) once — the first answer wins, a resend stores nothing new — and never lets
history replace a day's live snapshots: history fills the days that have none, and a day with
both is reconciled. A request is accepted whole or not at all.

Money and quantities are exact decimal strings (JSON numbers are read as decimals, never floats).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from veracity_contract.connector import (
    ACCOUNT_ID_MAX_LENGTH,
    CURRENCY_MAX_LENGTH,
    MAX_ACCOUNTS,
    PositionFields,
)
from veracity_contract.fields import ExactNumber, StrictModel

# Named limits, as in connector.py: the connector cuts a backfill into requests that fit them
# (and the server's own, smaller per-request limits advertised in the heartbeat's `limits`).
HISTORY_SOURCES = ("gateway", "flex")
MAX_DAYS_PER_ACCOUNT = 400  # a year (365 days, Flex's and /pa/performance's longest) and slack
MAX_POSITIONS_PER_DAY = 20_000  # as MAX_ROWS_PER_ACCOUNT for a live snapshot
EARLIEST_REPORT_DATE = date(2000, 1, 1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

HistorySource = Literal["gateway", "flex"]


def _iso_date_text(value: object) -> object:
    # pydantic's lax date would also read 1700000000 (a Unix time) or "20261204"; the contract
    # says "YYYY-MM-DD" (the connector converts IBKR's yyyyMMdd).
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date string YYYY-MM-DD")
    return value


def _sane_date(value: date) -> date:
    if value < EARLIEST_REPORT_DATE:
        raise ValueError(f"must be {EARLIEST_REPORT_DATE.isoformat()} or later")
    return value


# The day the NAV is for (IBKR's reportDate: the trading day, not when it was fetched).
ReportDate = Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_sane_date)]


class HistoryPositionIn(PositionFields):
    """One end-of-day position from a Flex statement's OpenPositions (summary level);
    `market_value` is Flex's positionValue, which `fx_rate_to_base` converts to the base."""

    fx_rate_to_base: ExactNumber | None = None


class DailyPointIn(StrictModel):
    """One account's NAV at the end of one report date, and (Flex only) its positions."""

    report_date: ReportDate
    # Net asset value in the account's base currency.
    nav: ExactNumber
    # Only from Flex; null or absent = not given (never "no positions": send [] for that).
    positions: Annotated[list[HistoryPositionIn], Field(max_length=MAX_POSITIONS_PER_DAY)] | None \
        = None


class HistoryAccountIn(StrictModel):
    """One IBKR account's daily points, each report date at most once."""

    account_id: Annotated[str, StringConstraints(min_length=1, max_length=ACCOUNT_ID_MAX_LENGTH)]
    base_currency: Annotated[str, StringConstraints(min_length=1,
                                                    max_length=CURRENCY_MAX_LENGTH)]
    days: Annotated[list[DailyPointIn], Field(min_length=1, max_length=MAX_DAYS_PER_ACCOUNT)]

    @field_validator("days")
    @classmethod
    def _dates_unique(cls, days: list[DailyPointIn]) -> list[DailyPointIn]:
        seen: set[date] = set()
        for index, day in enumerate(days):
            if day.report_date in seen:
                raise ValueError(f"days[{index}] repeats a report_date sent earlier")
            seen.add(day.report_date)
        return days


class DailyHistoryRequest(StrictModel):
    """A batch of daily points from one source: stored whole or not at all."""

    source: HistorySource
    accounts: Annotated[list[HistoryAccountIn], Field(min_length=1, max_length=MAX_ACCOUNTS)]

    @field_validator("accounts")
    @classmethod
    def _accounts_unique(cls, accounts: list[HistoryAccountIn]) -> list[HistoryAccountIn]:
        seen: set[str] = set()
        for index, account in enumerate(accounts):
            if account.account_id in seen:
                # By position, not by id: account ids are IBKR data that must not reach logs.
                raise ValueError(f"accounts[{index}] repeats an account_id sent earlier")
            seen.add(account.account_id)
        return accounts

    @model_validator(mode="after")
    def _positions_only_from_flex(self) -> DailyHistoryRequest:
        if self.source == "gateway" and any(
                day.positions is not None for account in self.accounts for day in account.days):
            # /pa/performance gives NAV only; positions claimed from it would be invented.
            raise ValueError("positions are given only with source 'flex'")
        return self


class DailyHistoryAnswer(BaseModel):
    """How many (account, day) points the batch added, and how many Veracity already had."""

    source: str
    stored: int
    already_present: int
    # Of the points in the batch, those for days that also have a live end-of-day snapshot
    # (the chart keeps the live one; both are reconciled).
    with_live_data: int
    # Of those, the days whose NAV or positions differ beyond the tolerance (docs/history.md).
    differences: int
