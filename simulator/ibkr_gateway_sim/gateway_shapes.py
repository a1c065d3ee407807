"""Turn the simulated book into the JSON shapes the Client Portal Gateway sends."""

from __future__ import annotations

from typing import Any

from ibkr_gateway_sim.portfolio import Account, Book, Order, Position, exchange_rate

POSITIONS_PAGE_SIZE = 100

# The status filter names `/iserver/account/orders?filters=` accepts, and the status each selects.
ORDER_STATUS_FILTERS = {
    "inactive": "Inactive",
    "pending_submit": "PendingSubmit",
    "pre_submitted": "PreSubmitted",
    "submitted": "Submitted",
    "filled": "Filled",
    "pending_cancel": "PendingCancel",
    "cancelled": "Cancelled",
    "warn_state": "WarnState",
}


def portfolio_account(account: Account) -> dict[str, Any]:
    """One element of `GET /portfolio/accounts`."""
    return {
        "id": account.account_id,
        "accountId": account.account_id,
        "accountVan": account.account_id,
        "accountTitle": account.title,
        "displayName": account.title,
        "accountAlias": None,
        "accountStatus": 1644814800000,
        "currency": account.base_currency,
        "type": account.account_type,
        "tradingType": "STKCASH",
        "businessType": "IB_PROSERVE",
        "ibEntity": "IBLLC-US",
        "faclient": False,
        "clearingStatus": "O",
        "covestor": False,
        "noClientTrading": False,
        "trackVirtualFXPortfolio": True,
        "parent": {"mmc": [], "accountId": "", "isMParent": False, "isMChild": False,
                   "isMultiplex": False},
        "desc": account.account_id,
    }


def iserver_accounts(book: Book, selected_account: str) -> dict[str, Any]:
    """The body of `GET /iserver/accounts`."""
    ids = [account.account_id for account in book.accounts]
    return {
        "accounts": ids,
        "acctProps": {account_id: {"hasChildAccounts": False, "supportsCashQty": True,
                                   "supportsFractions": False, "allowCustomerTime": False}
                      for account_id in ids},
        "aliases": {account_id: account_id for account_id in ids},
        "allowFeatures": {"showGFIS": True, "allowCrypto": False, "allowFA": False},
        "chartPeriods": {"STK": ["1min", "5min", "1h", "1d"]},
        "groups": [],
        "profiles": [],
        "selectedAccount": selected_account,
        "serverInfo": {"serverName": "JifN19053", "serverVersion": "Build 10.25.0p"},
        "sessionId": "6a1f0c2e.00000042",
        "isFT": False,
        "isPaper": False,
    }


def position_row(book: Book, account: Account, position: Position) -> dict[str, Any]:
    """One position as `/portfolio/{acct}/positions/{page}` and `/portfolio2/...` list it."""
    contract = book.contract(position.conid)
    market_value, unrealized = book.position_value(position)
    return {
        "acctId": account.account_id,
        "conid": contract.conid,
        "contractDesc": contract.contract_description(),
        "position": position.quantity,
        "mktPrice": contract.price,
        "mktValue": market_value,
        "currency": contract.currency,
        "avgCost": round(position.average_price * contract.multiplier, 4),
        "avgPrice": position.average_price,
        "realizedPnl": position.realized_pnl,
        "unrealizedPnl": unrealized,
        "exchs": None,
        "expiry": contract.expiry,
        "putOrCall": contract.put_or_call,
        "multiplier": contract.multiplier if contract.asset_class != "STK" else None,
        "strike": contract.strike if contract.strike is not None else 0.0,
        "exerciseStyle": None,
        "conExchMap": [],
        "assetClass": contract.asset_class,
        "undConid": contract.underlying_conid or 0,
        "model": "",
        "time": 0,
        "chineseName": None,
        "allExchanges": contract.listing_exchange,
        "listingExchange": contract.listing_exchange,
        "countryCode": "US",
        "name": contract.description or contract.ticker,
        "lastTradingDay": contract.expiry,
        "group": None,
        "sector": None,
        "sectorGroup": None,
        "ticker": contract.ticker,
        "type": "COMMON" if contract.asset_class == "STK" else "",
        "hasOptions": contract.asset_class == "STK",
        "fullName": contract.contract_description(),
        "isUS": contract.currency == "USD",
        "incrementRules": [{"lowerEdge": 0.0, "increment": 0.01}],
        "isEventContract": False,
        "pageSize": POSITIONS_PAGE_SIZE,
    }


def positions_rows(book: Book, account: Account) -> list[dict[str, Any]]:
    """Every position of an account, in the gateway's row shape, in a stable order."""
    return [position_row(book, account, position) for position in account.positions]


def order_row(book: Book, order: Order) -> dict[str, Any]:
    """One order as `/iserver/account/orders` lists it (prices as strings, like the gateway)."""
    contract = book.contract(order.conid)
    remaining = max(order.quantity - order.filled_quantity, 0.0)
    row: dict[str, Any] = {
        "acct": order.account_id,
        "conidex": str(contract.conid),
        "conid": contract.conid,
        "account": order.account_id,
        "orderId": order.order_id,
        "cashCcy": contract.currency,
        "sizeAndFills": f"{order.filled_quantity:g}/{order.quantity:g}",
        "orderDesc": _order_description(order, contract.ticker),
        "description1": contract.ticker,
        "ticker": contract.ticker,
        "secType": contract.asset_class,
        "listingExchange": contract.listing_exchange,
        "remainingQuantity": remaining,
        "filledQuantity": order.filled_quantity,
        "totalSize": order.quantity,
        "companyName": contract.description or contract.ticker,
        "status": order.status,
        "order_ccp_status": order.status,
        "origOrderType": _order_type_code(order.order_type),
        "supportsTaxOpt": "1",
        "lastExecutionTime": "",
        "orderType": order.order_type,
        "bgColor": "#FFFFFF",
        "fgColor": "#000000",
        "order_ref": order.order_ref,
        "timeInForce": order.time_in_force,
        "lastExecutionTime_r": order.last_execution_ms,
        "side": order.side,
        "outsideRTH": order.outside_rth,
    }
    if order.status == "Filled":
        row["avgPrice"] = f"{contract.price:.2f}"
    if order.price is not None:
        row["price"] = order.price
    if order.aux_price is not None:
        row["auxPrice"] = order.aux_price
        if order.order_type in ("Stop", "Stop Limit"):
            row["stop_price"] = order.aux_price
    return row


def _order_type_code(display: str) -> str:
    return {"Stop": "STP", "Stop Limit": "STOP_LIMIT", "TRAILING_STOP": "TRAIL",
            "TRAILING_STOP_LIMIT": "TRAILLMT", "Limit": "LMT", "Market": "MKT"}.get(
        display, display.upper())


def _order_description(order: Order, ticker: str) -> str:
    verb = "Sell" if order.side == "SELL" else "Buy"
    text = f"{verb} {order.quantity:g} {ticker} {order.order_type}"
    if order.aux_price:
        text += f", stop {order.aux_price}"
    if order.price:
        text += f", limit {order.price}"
    return f"{text}, {order.time_in_force}"


def _summary_value(amount: float, currency: str, now_ms: int) -> dict[str, Any]:
    return {"amount": round(amount, 2), "currency": currency, "isNull": False,
            "timestamp": now_ms, "value": None, "severity": 0}


def summary(book: Book, account: Account, now_ms: int) -> dict[str, Any]:
    """The body of `GET /portfolio/{acct}/summary` (keys with -c / -s variants)."""
    base = account.base_currency
    net_liquidation = book.net_liquidation(account)
    cash = sum(amount * exchange_rate(currency, base) for currency, amount in account.cash.items())
    gross = 0.0
    for position in account.positions:
        contract = book.contract(position.conid)
        market_value, _ = book.position_value(position)
        gross += abs(market_value) * exchange_rate(contract.currency, base)
    figures = {
        "netliquidation": net_liquidation,
        "totalcashvalue": cash,
        "settledcash": cash,
        "equitywithloanvalue": net_liquidation,
        "buyingpower": max(net_liquidation, 0.0) * 4,
        "availablefunds": max(net_liquidation * 0.6, 0.0),
        "excessliquidity": max(net_liquidation * 0.65, 0.0),
        "grosspositionvalue": gross,
        "initmarginreq": gross * 0.25,
        "maintmarginreq": gross * 0.2,
    }
    body: dict[str, Any] = {}
    for key, amount in figures.items():
        body[key] = _summary_value(amount, base, now_ms)
        body[f"{key}-s"] = _summary_value(amount, base, now_ms)
        body[f"{key}-c"] = _summary_value(0.0, base, now_ms)
    body["accountcode"] = {"amount": 0.0, "currency": None, "isNull": False,
                           "timestamp": now_ms, "value": account.account_id, "severity": 0}
    body["accountready"] = {"amount": 0.0, "currency": None, "isNull": False,
                            "timestamp": now_ms, "value": "true", "severity": 0}
    return body


def ledger(book: Book, account: Account, now_seconds: int) -> dict[str, Any]:
    """The body of `GET /portfolio/{acct}/ledger`: one entry per currency plus `BASE`."""
    currencies = set(account.cash) | {book.contract(p.conid).currency for p in account.positions}
    entries: dict[str, Any] = {}
    for currency in sorted(currencies):
        entries[currency] = _ledger_entry(book, account, currency, now_seconds)
    entries["BASE"] = _base_ledger_entry(book, account, entries, now_seconds)
    entries["BASE"]["currency"] = "BASE"  # the gateway labels the converted total this way
    return entries


def _ledger_entry(book: Book, account: Account, currency: str, now_seconds: int) -> dict[str, Any]:
    stock_value = unrealized = realized = futures_pnl = 0.0
    for position in account.positions:
        contract = book.contract(position.conid)
        if contract.currency != currency:
            continue
        market_value, position_unrealized = book.position_value(position)
        unrealized += position_unrealized
        realized += position.realized_pnl
        if contract.asset_class in ("FUT", "FOP"):
            futures_pnl += position_unrealized
        else:
            stock_value += market_value
    cash = account.cash.get(currency, 0.0)
    return _ledger_fields(
        currency=currency, cash=cash, stock_value=stock_value, futures_pnl=futures_pnl,
        unrealized=unrealized, realized=realized,
        rate=exchange_rate(currency, account.base_currency), account_id=account.account_id,
        now_seconds=now_seconds)


def _base_ledger_entry(book: Book, account: Account, entries: dict[str, Any],
                       now_seconds: int) -> dict[str, Any]:
    totals = dict.fromkeys(("cashbalance", "stockmarketvalue", "futuremarketvalue",
                            "unrealizedpnl", "realizedpnl"), 0.0)
    for entry in entries.values():
        for key in totals:
            totals[key] += entry[key] * entry["exchangerate"]
    return _ledger_fields(
        currency=account.base_currency, cash=totals["cashbalance"],
        stock_value=totals["stockmarketvalue"], futures_pnl=totals["futuremarketvalue"],
        unrealized=totals["unrealizedpnl"], realized=totals["realizedpnl"], rate=1.0,
        account_id=account.account_id, now_seconds=now_seconds,
        net_liquidation=book.net_liquidation(account))


def _ledger_fields(*, currency: str, cash: float, stock_value: float, futures_pnl: float,
                   unrealized: float, realized: float, rate: float, account_id: str,
                   now_seconds: int, net_liquidation: float | None = None) -> dict[str, Any]:
    if net_liquidation is None:
        net_liquidation = cash + stock_value + futures_pnl
    return {
        "commoditymarketvalue": 0.0,
        "futuremarketvalue": round(futures_pnl, 2),
        "settledcash": round(cash, 2),
        "exchangerate": round(rate, 8),
        "sessionid": 1,
        "cashbalance": round(cash, 2),
        "corporatebondsmarketvalue": 0.0,
        "warrantsmarketvalue": 0.0,
        "netliquidationvalue": round(net_liquidation, 2),
        "interest": 0.0,
        "unrealizedpnl": round(unrealized, 2),
        "stockmarketvalue": round(stock_value, 2),
        "moneyfunds": 0.0,
        "currency": currency,
        "realizedpnl": round(realized, 2),
        "funds": 0.0,
        "acctcode": account_id,
        "issueroptionsmarketvalue": 0.0,
        "key": "LedgerList",
        "timestamp": now_seconds,
        "severity": 0,
        "stockoptionmarketvalue": 0.0,
        "futuresonlypnl": round(futures_pnl, 2),
        "tbondsmarketvalue": 0.0,
        "futureoptionmarketvalue": 0.0,
        "cashbalancefxsegment": 0.0,
        "secondkey": currency,
        "tbillsmarketvalue": 0.0,
        "endofbundle": 1,
        "dividends": 0.0,
        "cryptocurrencyvalue": 0.0,
    }
