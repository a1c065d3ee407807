"""Parse the control API's account, position, order and price bodies into the book's objects.

Bodies use snake_case; every error is a ValueError whose message names the offending field.
"""

from __future__ import annotations

from typing import Any

from ibkr_gateway_sim.portfolio import (
    ASSET_CLASSES,
    USD_PER_UNIT,
    Account,
    Book,
    Contract,
    Order,
    Position,
)

ORDER_TYPES = ("Limit", "Market", "Stop", "Stop Limit", "TRAILING_STOP", "TRAILING_STOP_LIMIT",
               "LIMITONCLOSE", "MARKETONCLOSE", "MidPrice")
ORDER_STATUSES = ("PendingSubmit", "PreSubmitted", "Submitted", "Filled", "Cancelled",
                  "Inactive", "PendingCancel", "WarnState")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a JSON list")
    return value


def _number(data: dict[str, Any], name: str, what: str, default: float | None = None) -> float:
    value = data.get(name, default)
    if value is None:
        raise ValueError(f"{what}: field {name!r} is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}: field {name!r} must be a number")
    return float(value)


def _text(data: dict[str, Any], name: str, what: str, default: str | None = None,
          choices: tuple[str, ...] | None = None) -> str:
    value = data.get(name, default)
    if value is None:
        raise ValueError(f"{what}: field {name!r} is required")
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: field {name!r} must be a non-empty string")
    if choices is not None and value not in choices:
        raise ValueError(f"{what}: field {name!r} must be one of {', '.join(choices)}")
    return value


def _optional_text(data: dict[str, Any], name: str, what: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    if not isinstance(value, str):
        raise ValueError(f"{what}: field {name!r} must be a string or a number")
    return value


def _currency(data: dict[str, Any], name: str, what: str, default: str | None = None) -> str:
    return _text(data, name, what, default, choices=tuple(USD_PER_UNIT))


def parse_accounts(body: Any, book: Book) -> list[Account]:
    """`PUT /sim/accounts` body `{accounts: [...]}` → accounts (with positions and orders)."""
    items = _list(_object(body, "body").get("accounts"), "accounts")
    accounts: list[Account] = []
    for index, item in enumerate(items):
        what = f"accounts[{index}]"
        data = _object(item, what)
        account_id = _text(data, "account_id", what)
        if any(existing.account_id == account_id for existing in accounts):
            raise ValueError(f"{what}: account_id {account_id!r} appears twice")
        base = _currency(data, "base_currency", what)
        cash_data = _object(data.get("cash", {}), f"{what}.cash")
        cash = {}
        for currency in cash_data:
            _currency({"c": currency}, "c", f"{what}.cash key")
            cash[currency] = _number(cash_data, currency, f"{what}.cash")
        account = Account(account_id=account_id, base_currency=base,
                          title=_text(data, "title", what, default=account_id), cash=cash)
        account.positions = parse_positions(data.get("positions", []), book, account,
                                            f"{what}.positions")
        account.orders = parse_orders(data.get("orders", []), book, account, f"{what}.orders")
        accounts.append(account)
    return accounts


def parse_positions(items: Any, book: Book, account: Account, what: str) -> list[Position]:
    """A list of position specs → positions, creating or updating their contracts."""
    positions: list[Position] = []
    for index, item in enumerate(_list(items, what)):
        data = _object(item, f"{what}[{index}]")
        contract = _contract_for(data, book, account, f"{what}[{index}]")
        if any(position.conid == contract.conid for position in positions):
            raise ValueError(f"{what}[{index}]: conid {contract.conid} appears twice")
        positions.append(Position(
            conid=contract.conid,
            quantity=_number(data, "quantity", f"{what}[{index}]"),
            average_price=_number(data, "average_price", f"{what}[{index}]",
                                  default=contract.price),
            realized_pnl=_number(data, "realized_pnl", f"{what}[{index}]", default=0.0)))
    return positions


def _contract_for(data: dict[str, Any], book: Book, account: Account, what: str) -> Contract:
    conid = data.get("conid")
    if conid is not None and (isinstance(conid, bool) or not isinstance(conid, int) or conid < 1):
        raise ValueError(f"{what}: field 'conid' must be a positive integer")
    existing = book.contracts.get(conid) if conid is not None else None
    if existing is not None and "ticker" not in data:
        if "market_price" in data:
            existing.price = _number(data, "market_price", what)
        return existing
    asset_class = _text(data, "asset_class", what, default="STK", choices=ASSET_CLASSES)
    contract = Contract(
        conid=conid if conid is not None else max(book.contracts, default=100000) + 1,
        ticker=_text(data, "ticker", what),
        asset_class=asset_class,
        currency=_currency(data, "currency", what, default=account.base_currency),
        price=_number(data, "market_price", what),
        description=_text(data, "description", what, default=data.get("ticker") or "?"),
        listing_exchange=_text(data, "listing_exchange", what, default="SMART"),
        multiplier=_number(data, "multiplier", what,
                           default=100.0 if asset_class == "OPT" else 1.0),
        expiry=_optional_text(data, "expiry", what),
        put_or_call=_optional_text(data, "put_or_call", what),
        strike=float(data["strike"]) if data.get("strike") is not None else None,
        underlying_conid=data.get("underlying_conid"),
    )
    if contract.put_or_call not in (None, "P", "C"):
        raise ValueError(f"{what}: field 'put_or_call' must be 'P', 'C' or null")
    book.contracts[contract.conid] = contract
    return contract


def parse_orders(items: Any, book: Book, account: Account, what: str) -> list[Order]:
    """A list of order specs → orders of this account."""
    orders = []
    for index, item in enumerate(_list(items, what)):
        orders.append(parse_order(item, book, account, f"{what}[{index}]"))
    return orders


def parse_order(item: Any, book: Book, account: Account, what: str = "order") -> Order:
    """One order spec; its conid must name a known contract."""
    data = _object(item, what)
    conid = data.get("conid")
    if not isinstance(conid, int) or isinstance(conid, bool) or conid not in book.contracts:
        raise ValueError(f"{what}: field 'conid' must name a known contract "
                         "(add it with a position first)")
    order_id = data.get("order_id")
    if order_id is None:
        order_id = max((o.order_id for a in book.accounts for o in a.orders), default=1000) + 1
    elif isinstance(order_id, bool) or not isinstance(order_id, int) or order_id < 1:
        raise ValueError(f"{what}: field 'order_id' must be a positive integer")
    quantity = _number(data, "quantity", what)
    status = _text(data, "status", what, default="Submitted", choices=ORDER_STATUSES)
    return Order(
        order_id=order_id, account_id=account.account_id, conid=conid,
        side=_text(data, "side", what, default="SELL", choices=("BUY", "SELL")),
        order_type=_text(data, "order_type", what, choices=ORDER_TYPES),
        quantity=quantity, status=status,
        filled_quantity=_number(data, "filled_quantity", what,
                                default=quantity if status == "Filled" else 0.0),
        price=_optional_text(data, "price", what),
        aux_price=_optional_text(data, "aux_price", what),
        time_in_force=_text(data, "time_in_force", what, default="GTC"),
        outside_rth=bool(data.get("outside_rth", False)),
        order_ref=_optional_text(data, "order_ref", what),
        last_execution_ms=int(_number(data, "last_execution_ms", what, default=0)),
    )


def apply_prices(body: Any, book: Book) -> dict[int, float]:
    """`PUT /sim/prices` body `{prices: {conid: price}}`; all checked before any is changed."""
    prices = _object(_object(body, "body").get("prices"), "prices")
    parsed: dict[int, float] = {}
    for key, value in prices.items():
        try:
            conid = int(key)
        except ValueError:
            raise ValueError(f"prices: key {key!r} is not a conid") from None
        if conid not in book.contracts:
            raise ValueError(f"prices: conid {conid} is not a known contract")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"prices: the price of {conid} must be a positive number")
        parsed[conid] = float(value)
    for conid, price in parsed.items():
        book.contracts[conid].price = price
    return parsed
