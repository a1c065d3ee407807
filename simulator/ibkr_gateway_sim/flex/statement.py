"""The Flex statement itself: `FlexQueryResponse` XML (or CSV) from the simulator's closes.

Every number comes from `nav_history` closes, the same ones `/pa/performance` reports, so an
`EquitySummaryByReportDateInBase@total` is the NAV the gateway showed at that day's end.
Data lives in attributes, containers carry none, one `FlexStatement` per account (ibkr-flex.md
section 6); dates `yyyyMMdd` (or `yyyy-MM-dd` when the query says so), date-times
`yyyyMMdd;HHmmss`.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from ibkr_gateway_sim.flex.service import FlexQuery, PendingStatement
from ibkr_gateway_sim.nav_history import AccountClose, NavHistory, PositionClose, business_days
from ibkr_gateway_sim.portfolio import USD_PER_UNIT, Book, Contract, Order, exchange_rate

# The gateway's order type display strings → Flex's order type codes (ibflex's OrderType).
_FLEX_ORDER_TYPES = {"Limit": "LMT", "Market": "MKT", "Stop": "STP", "Stop Limit": "STPLMT",
                     "TRAILING_STOP": "TRAIL", "TRAILING_STOP_LIMIT": "TRAILLMT",
                     "LIMITONCLOSE": "LOC", "MARKETONCLOSE": "MOC", "MidPrice": "MIDPX"}


@dataclass
class StatementRequest:
    """Everything one statement needs."""

    pending: PendingStatement
    account_ids: list[str]
    generated_at: dt.datetime  # New York time


@dataclass
class AccountData:
    """One account's share of a statement, gathered under the simulator's lock."""

    account_id: str
    base_currency: str
    title: str
    opened: dt.date | None
    closes: list[AccountClose]
    before: AccountClose | None  # the close before the first one (ChangeInNAV's start)
    fills: list[tuple[Order, Contract]]


def gather(request: StatementRequest, history: NavHistory, book: Book) -> list[AccountData]:
    """Read what the statement needs (call with the lock held; rendering needs no lock)."""
    pending = request.pending
    gathered = []
    for account_id in request.account_ids:
        closes = history.closes(account_id, pending.from_date, pending.to_date)
        account = book.account(account_id)
        before = None
        if closes:
            probe = closes[0].day - dt.timedelta(days=1)
            for _ in range(7):
                before = history.close(account_id, probe)
                if before is not None:
                    break
                probe -= dt.timedelta(days=1)
        fills = [(copy.copy(order), copy.copy(book.contract(order.conid)))
                 for order in (account.orders if account else [])
                 if order.status == "Filled" and order.last_execution_ms]
        base = closes[-1].base_currency if closes else (
            account.base_currency if account else "USD")
        title = closes[-1].title if closes else (account.title if account else account_id)
        gathered.append(AccountData(account_id=account_id, base_currency=base, title=title,
                                    opened=history.opened_on(account_id), closes=closes,
                                    before=before, fills=fills))
    return gathered


class _Formats:
    def __init__(self, query: FlexQuery) -> None:
        self.date_pattern = "%Y-%m-%d" if query.date_format == "yyyy-MM-dd" else "%Y%m%d"
        self.quirks = query.quirks

    def day(self, day: dt.date) -> str:
        return day.strftime(self.date_pattern)

    def moment(self, moment: dt.datetime) -> str:
        return moment.strftime(self.date_pattern) + ";" + moment.strftime("%H%M%S")

    def amount(self, value: float, big: bool = False) -> str:
        text = f"{value:.2f}"
        if self.quirks and big and abs(value) >= 1000:
            text = f"{value:,.2f}"  # comma thousands, as some real statements carry
        return text


def _element(out: io.StringIO, tag: str, attributes: Iterable[tuple[str, object]]) -> None:
    parts = " ".join(f"{name}={quoteattr(str(value))}" for name, value in attributes)
    out.write(f"<{tag} {parts} />\n")


def _number(value: float) -> str:
    return f"{value:.10g}"


def build_xml(request: StatementRequest, accounts: list[AccountData]) -> bytes:
    """The whole `FlexQueryResponse` document."""
    query = request.pending.query
    formats = _Formats(query)
    statements = [_statement(request, account, formats) for account in accounts]
    out = io.StringIO()
    out.write(f"<FlexQueryResponse queryName={quoteattr(query.name)} type=\"AF\">\n")
    out.write(f"<FlexStatements count=\"{len(statements)}\">\n")
    for statement in statements:
        out.write(statement)
    out.write("</FlexStatements>\n</FlexQueryResponse>\n")
    return out.getvalue().encode()


def _statement(request: StatementRequest, data: AccountData, formats: _Formats) -> str:
    pending, query = request.pending, request.pending.query
    account_id, closes, base = data.account_id, data.closes, data.base_currency
    out = io.StringIO()
    out.write(f"<FlexStatement accountId={quoteattr(account_id)} "
              f"fromDate=\"{formats.day(pending.from_date)}\" "
              f"toDate=\"{formats.day(pending.to_date)}\" period={quoteattr(pending.period)} "
              f"whenGenerated=\"{formats.moment(request.generated_at)}\">\n")
    for section in query.sections:
        if section == "AccountInformation":
            _element(out, "AccountInformation", [
                ("accountId", account_id), ("acctAlias", ""), ("currency", base),
                ("name", data.title), ("accountType", "Individual"),
                ("customerType", "Individual"),
                ("dateOpened", formats.day(data.opened) if data.opened else ""),
                ("ibEntity", "IBLLC-US"), ("masterName", "")])
        elif section == "ChangeInNAV" and closes:
            _change_in_nav(out, data, formats)
        elif section == "EquitySummaryInBase":
            out.write("<EquitySummaryInBase>\n")
            for close in closes:
                _equity_summary(out, close, formats)
            out.write("</EquitySummaryInBase>\n")
        elif section == "CashReport":
            out.write("<CashReport>\n")
            if closes:
                _cash_report(out, closes, pending, formats)
            out.write("</CashReport>\n")
        elif section == "OpenPositions":
            out.write("<OpenPositions>\n")
            shown = closes if query.positions == "daily" else closes[-1:]
            fixed: dict[int, str] = {}  # conid → the attributes that do not change by day
            for close in shown:
                for position in close.positions:
                    _open_position(out, close, position, formats, fixed)
            out.write("</OpenPositions>\n")
        elif section == "Trades":
            out.write("<Trades>\n")
            for order, contract in data.fills:
                _trade(out, order, contract, base, pending, formats)
            out.write("</Trades>\n")
        elif section == "CashTransactions":
            out.write("<CashTransactions>\n</CashTransactions>\n")
        elif section == "ConversionRates":
            out.write("<ConversionRates>\n")
            for day in business_days(pending.from_date, pending.to_date):
                for currency in USD_PER_UNIT:
                    _element(out, "ConversionRate", [
                        ("reportDate", formats.day(day)), ("fromCurrency", currency),
                        ("toCurrency", base),
                        ("rate", _number(round(exchange_rate(currency, base), 8)))])
            out.write("</ConversionRates>\n")
    if query.quirks:
        # An element type no parser knows: ibflex 1.1 skips it with a warning. (A whole
        # unknown container section with rows would still break ibflex 1.1: it passes the
        # empty tuple on to FlexStatement. The simulator never sends one.)
        _element(out, "SimFutureSummary", [("accountId", account_id),
                                           ("note", "unknown to every parser")])
    out.write("</FlexStatement>\n")
    return out.getvalue()


def _change_in_nav(out: io.StringIO, data: AccountData, formats: _Formats) -> None:
    account_id, base, closes, before = data.account_id, data.base_currency, data.closes, \
        data.before
    starting = before.nav if before is not None else closes[0].nav
    ending = closes[-1].nav
    twr = (ending / starting - 1) * 100 if starting else 0.0
    _element(out, "ChangeInNAV", [
        ("accountId", account_id), ("acctAlias", ""), ("currency", base),
        ("fromDate", formats.day(closes[0].day)), ("toDate", formats.day(closes[-1].day)),
        ("startingValue", formats.amount(starting)), ("mtm", formats.amount(ending - starting)),
        ("realized", "0"), ("changeInUnrealized", "0"), ("depositsWithdrawals", "0"),
        ("dividends", "0"), ("withholdingTax", "0"), ("interest", "0"), ("commissions", "0"),
        ("otherFees", "0"), ("fxTranslation", "0"), ("other", "0"),
        ("endingValue", formats.amount(ending)), ("twr", f"{twr:.6f}")])


def _in_base(close: AccountClose, position: PositionClose) -> float:
    return position.market_value * exchange_rate(position.contract.currency, close.base_currency)


def _equity_summary(out: io.StringIO, close: AccountClose, formats: _Formats) -> None:
    buckets = {"stock": 0.0, "options": 0.0, "commodities": 0.0, "bonds": 0.0, "funds": 0.0}
    cash = sum(amount * exchange_rate(currency, close.base_currency)
               for currency, amount in close.cash.items())
    for position in close.positions:
        asset = position.contract.asset_class
        if asset in ("FUT", "FOP"):  # counted at their unrealized P&L, like the NAV
            rate = exchange_rate(position.contract.currency, close.base_currency)
            buckets["commodities"] += position.unrealized_pnl * rate
        elif asset in ("OPT", "WAR"):
            buckets["options"] += _in_base(close, position)
        elif asset == "BOND":
            buckets["bonds"] += _in_base(close, position)
        elif asset == "FUND":
            buckets["funds"] += _in_base(close, position)
        elif asset == "CASH":
            cash += _in_base(close, position)
        else:
            buckets["stock"] += _in_base(close, position)
    _element(out, "EquitySummaryByReportDateInBase", [
        ("accountId", close.account_id), ("acctAlias", ""), ("currency", close.base_currency),
        ("reportDate", formats.day(close.day)), ("cash", formats.amount(cash)),
        *((name, formats.amount(value)) for name, value in buckets.items()),
        ("notes", "0"), ("interestAccruals", "0"), ("dividendAccruals", "0"),
        ("softDollars", "0"), ("total", formats.amount(close.nav, big=True))])


def _cash_report(out: io.StringIO, closes: list[AccountClose], pending: PendingStatement,
                 formats: _Formats) -> None:
    first, last = closes[0], closes[-1]
    period = [("fromDate", formats.day(pending.from_date)),
              ("toDate", formats.day(pending.to_date))]

    def in_base(close: AccountClose) -> float:
        return sum(amount * exchange_rate(currency, close.base_currency)
                   for currency, amount in close.cash.items())

    # BASE_SUMMARY: IBKR's pseudo-currency row for the total in the base currency.
    _element(out, "CashReportCurrency", [
        ("accountId", last.account_id), ("currency", "BASE_SUMMARY"), *period,
        ("startingCash", formats.amount(in_base(first))),
        ("endingCash", formats.amount(in_base(last))),
        ("endingSettledCash", formats.amount(in_base(last))), ("levelOfDetail", "BaseCurrency")])
    for currency in sorted(set(first.cash) | set(last.cash)):
        _element(out, "CashReportCurrency", [
            ("accountId", last.account_id), ("currency", currency), *period,
            ("startingCash", formats.amount(first.cash.get(currency, 0.0))),
            ("endingCash", formats.amount(last.cash.get(currency, 0.0))),
            ("endingSettledCash", formats.amount(last.cash.get(currency, 0.0))),
            ("levelOfDetail", "Currency")])


def _open_position(out: io.StringIO, close: AccountClose, position: PositionClose,
                   formats: _Formats, fixed: dict[int, str]) -> None:
    contract = position.contract
    head = fixed.get(contract.conid)
    if head is None:
        rate = exchange_rate(contract.currency, close.base_currency)
        empty = "-" if formats.quirks else ""
        expiry = ""
        if contract.expiry:
            expiry = formats.day(dt.date(int(contract.expiry[:4]), int(contract.expiry[4:6]),
                                         int(contract.expiry[6:8])))
        head = " ".join(f"{name}={quoteattr(str(value))}" for name, value in [
            ("accountId", close.account_id), ("acctAlias", ""), ("currency", contract.currency),
            ("fxRateToBase", _number(round(rate, 8))), ("assetCategory", contract.asset_class),
            ("symbol", contract.ticker), ("description", contract.contract_description()),
            ("conid", contract.conid), ("securityID", ""),
            ("multiplier", _number(contract.multiplier)),
            ("strike", _number(contract.strike) if contract.strike is not None else empty),
            ("expiry", expiry), ("putCall", contract.put_or_call or ""),
            ("openPrice", _number(position.average_price)),
            ("costBasisPrice", _number(position.average_price)),
            ("levelOfDetail", "SUMMARY"), ("listingExchange", contract.listing_exchange)])
        if formats.quirks:
            head += ' simExtraField="a field this parser does not know"'
        fixed[contract.conid] = head
    cost_money = position.quantity * position.average_price * contract.multiplier
    out.write(f'<OpenPosition {head} reportDate="{formats.day(close.day)}" '
              f'position="{_number(position.quantity)}" markPrice="{_number(contract.price)}" '
              f'positionValue="{formats.amount(position.market_value, big=True)}" '
              f'costBasisMoney="{formats.amount(cost_money)}" '
              f'fifoPnlUnrealized="{formats.amount(position.unrealized_pnl)}" '
              f'side="{"Short" if position.quantity < 0 else "Long"}" />\n')


def _trade(out: io.StringIO, order: Order, contract: Contract, base: str,
           pending: PendingStatement, formats: _Formats) -> None:
    """A filled order of the book as an execution, when it falls within the statement."""
    executed = dt.datetime.fromtimestamp(order.last_execution_ms / 1000, dt.UTC)
    if not pending.from_date <= executed.date() <= pending.to_date:
        return
    quantity = order.filled_quantity if order.side == "BUY" else -order.filled_quantity
    price = float(order.price) if order.price else contract.price
    proceeds = -quantity * price * contract.multiplier
    commission = -1.0
    _element(out, "Trade", [
        ("accountId", order.account_id), ("acctAlias", ""), ("currency", contract.currency),
        ("fxRateToBase", _number(round(exchange_rate(contract.currency, base), 8))),
        ("assetCategory", contract.asset_class), ("symbol", contract.ticker),
        ("description", contract.contract_description()), ("conid", contract.conid),
        ("listingExchange", contract.listing_exchange),
        ("multiplier", _number(contract.multiplier)), ("tradeID", order.order_id),
        ("transactionID", order.order_id * 10 + 1),
        ("reportDate", formats.day(executed.date())), ("tradeDate", formats.day(executed.date())),
        ("tradeTime", executed.strftime("%H%M%S")), ("dateTime", formats.moment(executed)),
        ("settleDateTarget", formats.day(executed.date() + dt.timedelta(days=1))),
        ("transactionType", "ExchTrade"), ("exchange", contract.listing_exchange),
        ("quantity", _number(quantity)), ("tradePrice", _number(price)),
        ("proceeds", formats.amount(proceeds)), ("ibCommission", formats.amount(commission)),
        ("ibCommissionCurrency", contract.currency),
        ("netCash", formats.amount(proceeds + commission)),
        ("buySell", order.side), ("openCloseIndicator", "O"),
        ("orderType", _FLEX_ORDER_TYPES.get(order.order_type, "LMT")),
        ("levelOfDetail", "EXECUTION")])


def build_csv(request: StatementRequest, history: NavHistory) -> bytes:
    """What a query set to CSV output answers: one header line, then NAV per account and day."""
    pending = request.pending
    lines = ['"ClientAccountID","CurrencyPrimary","ReportDate","Total"']
    for account_id in request.account_ids:
        for close in history.closes(account_id, pending.from_date, pending.to_date):
            lines.append(f'"{account_id}","{close.base_currency}",'
                         f'"{close.day.strftime("%Y%m%d")}","{close.nav:.2f}"')
    return ("\n".join(lines) + "\n").encode()
