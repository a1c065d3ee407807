"""A Flex statement (`FlexQueryResponse` XML) → daily NAV and end-of-day positions, whole or not.

Parsed with the `ibflex` library (ibflex.parser; lenient about attributes IBKR adds, strict about
dates, enums and counts). What Veracity needs per account (`FlexStatement`):

* `EquitySummaryInBase` — required: each `EquitySummaryByReportDateInBase` row is one day's NAV
  (`total`) in the base currency. A query without the section is `query_missing_section`.
* `OpenPositions` — optional: rows at the summary level, grouped by their `reportDate`, are that
  day's positions. IBKR reports open positions for the days its rows name (a statement over a
  period lists them at the period's end); days without rows have no positions given (None), and an
  empty section means nothing was held at the period's end.

Anything unreadable (not XML, another root, a count that does not match, a date in a format
ibflex cannot read, a NAV that is not a number) refuses the whole statement: nothing half stored.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import date
from decimal import Decimal
from typing import Any

from ibflex import parser as ibflex_parser

from veracity_connector.history.flex_client import parse_xml
from veracity_connector.history.flex_errors import MALFORMED, QUERY_MISSING_SECTION, FlexError
from veracity_connector.history.points import DailyPoint, DailyPosition, DailySeries
from veracity_connector.numbers import (
    CODE_MAX,
    CURRENCY_MAX,
    DESCRIPTION_MAX,
    SYMBOL_MAX,
    bounded_text,
    lenient_conid,
)

logger = logging.getLogger(__name__)

REQUIRED_SECTIONS = ("EquitySummaryInBase",)
OPTIONAL_SECTIONS = ("OpenPositions",)
PSEUDO_CURRENCIES = {"BASE_SUMMARY", ""}
_ACCEPTED_DATE = re.compile(r"\d{8}|\d{4}-\d{2}-\d{2}")  # the query's yyyyMMdd or yyyy-MM-dd


def statement_sections(xml: bytes) -> tuple[set[str], int]:
    """The section names present in every FlexStatement, and the number of statements."""
    root = parse_xml(xml)
    if root is None:
        raise FlexError(MALFORMED, None, "the statement is not XML")
    if root.tag != "FlexQueryResponse":
        raise FlexError(MALFORMED, None, f"root element {root.tag!r}, not FlexQueryResponse")
    statements = root.findall("./FlexStatements/FlexStatement")
    common: set[str] | None = None
    for statement in statements:
        names = {child.tag for child in statement}
        common = names if common is None else common & names
        for section in statement:
            for row in section:
                day = row.get("reportDate")
                if day and not _ACCEPTED_DATE.fullmatch(day):
                    # ibflex reads dd/MM/yyyy as MM/dd/yyyy without a word: refuse, not misdate.
                    raise FlexError(MALFORMED, None, "dates not in yyyyMMdd or yyyy-MM-dd")
    return common or set(), len(statements)


def parse_statement(xml: bytes) -> DailySeries:
    """The statement's daily points (source "flex"); FlexError if it cannot be taken whole."""
    sections, count = statement_sections(xml)
    if count == 0:
        raise FlexError(MALFORMED, None, "the statement holds no account")
    missing = [name for name in REQUIRED_SECTIONS if name not in sections]
    if missing:
        raise FlexError(QUERY_MISSING_SECTION, None, f"missing: {', '.join(missing)}")
    try:
        with warnings.catch_warnings():
            # ibflex warns about attributes it does not know (IBKR adds new ones): harmless.
            warnings.simplefilter("ignore")
            response = ibflex_parser.parse(xml)
    except Exception as error:  # ibflex raises FlexParserError, ValueError, KeyError, …
        raise FlexError(MALFORMED, None, f"ibflex: {error.__class__.__name__}") from None
    points: list[DailyPoint] = []
    for statement in response.FlexStatements:
        points += _statement_points(statement, "OpenPositions" in sections)
    return DailySeries("flex", tuple(points))


def _statement_points(statement: Any, has_positions: bool) -> list[DailyPoint]:
    account_id = bounded_text(statement.accountId, 64)
    if not account_id:
        raise FlexError(MALFORMED, None, "a FlexStatement without accountId")
    base = _base_currency(statement)
    navs: dict[date, Decimal] = {}
    for row in statement.EquitySummaryInBase:
        if row.reportDate is None or row.total is None:
            raise FlexError(MALFORMED, None, "an equity summary row without reportDate or total")
        navs[row.reportDate] = row.total
        if base is None and (row.currency or "") not in PSEUDO_CURRENCIES:
            base = bounded_text(row.currency, CURRENCY_MAX)
    positions: dict[date, list[DailyPosition]] = {}
    if has_positions:
        for row in statement.OpenPositions:
            if (row.levelOfDetail or "SUMMARY").upper() != "SUMMARY":
                continue  # lots repeat the summary row's quantity
            day = row.reportDate or statement.toDate
            position = _position(row)
            if position is not None and day is not None:
                positions.setdefault(day, []).append(position)
        if not positions and statement.toDate is not None:
            positions[statement.toDate] = []  # the section is there and empty: nothing held
    return [DailyPoint(account_id, day, nav, base,
                       tuple(positions[day]) if day in positions else None)
            for day, nav in sorted(navs.items())]


def _base_currency(statement: Any) -> str | None:
    info = statement.AccountInformation
    currency = getattr(info, "currency", None) if info is not None else None
    if currency and currency not in PSEUDO_CURRENCIES:
        return bounded_text(currency, CURRENCY_MAX)
    return None


def _position(row: Any) -> DailyPosition | None:
    conid = lenient_conid(row.conid)
    if conid is None or row.position is None:
        return None
    asset = getattr(row.assetCategory, "value", None) if row.assetCategory is not None else None
    return DailyPosition(
        conid=conid, symbol=bounded_text(row.symbol, SYMBOL_MAX),
        asset_class=bounded_text(asset, CODE_MAX), currency=bounded_text(row.currency,
                                                                         CURRENCY_MAX),
        quantity=row.position, market_price=row.markPrice, market_value=row.positionValue,
        fx_rate_to_base=row.fxRateToBase,
        description=bounded_text(row.description, DESCRIPTION_MAX), multiplier=row.multiplier)
