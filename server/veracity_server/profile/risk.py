"""Protective stops: which working stop order guards each position, and what is at risk.

Veracity is a risk product, so the portfolio API answers, for every position, "if my stop fills,
how much do I lose from here?". The rules:

- A position's protective stop is a working stop-type order (stop, stop limit, trailing) on the
  closing side (SELL for a long, BUY for a short) for the same contract (conid) in the same
  account. With several, the tightest wins: the one closest to the market price on the loss side
  (highest SELL stop for a long, lowest BUY stop for a short).
- Distance = how far the market may move against the position before the stop triggers:
  price - stop for a long, stop - price for a short; also as a percentage of the price.
- Amount at risk = quantity x (price - stop) x multiplier. The sign of the quantity makes it come
  out positive (a loss) for longs and shorts alike; it is negative only when the stop sits on the
  profit side of the market, which a working stop should not do for long.
- The multiplier (100 for most equity options, contract size for futures) comes from the position
  when it carries one, else is implied by market_value / (quantity x market_price), else 1.

All arithmetic is Decimal; every number leaves this module as a string (JSON-safe, exact).
Inputs are mappings with the HTTP contract's field names (positions and stop orders of one
account), whose numbers may be Decimal, int or numeric strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from veracity_server.wide_decimals import with_wide_decimals

# IBKR's live order statuses; the connector already filters, but a stale or odd row must never
# count as protection.
WORKING_STATUSES = frozenset({"pendingsubmit", "presubmitted", "submitted"})

CENT = Decimal("0.01")
PRICE_STEP = Decimal("0.0001")
HUNDRED = Decimal(100)
# An implied multiplier is trusted only when it is this close to a whole number: market values
# are rounded by IBKR, so 99.9998 means 100, but 37.4 means the inputs disagree.
MULTIPLIER_TOLERANCE = Decimal("0.01")


def to_decimal(value: Any) -> Decimal | None:
    """Exact Decimal from a Decimal, int or numeric string; None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        # Stored rows were validated on the way in; an unreadable number means "unknown", and an
        # unknown number must not turn the whole portfolio page into an error.
        return None
    return number if number.is_finite() else None


def decimal_text(value: Decimal | None) -> str | None:
    """Plain (never exponent) text for a Decimal, or None."""
    return None if value is None else format(value, "f")


def closing_side(quantity: Decimal) -> str | None:
    """The order side that closes a position: SELL for a long, BUY for a short, None if flat."""
    if quantity > 0:
        return "SELL"
    if quantity < 0:
        return "BUY"
    return None


def position_multiplier(position: Mapping[str, Any]) -> tuple[Decimal, str]:
    """The contract multiplier and where it came from: position, market_value or assumed."""
    explicit = to_decimal(position.get("multiplier"))
    if explicit is not None and explicit > 0:
        return explicit, "position"
    quantity = to_decimal(position.get("quantity"))
    price = to_decimal(position.get("market_price"))
    value = to_decimal(position.get("market_value"))
    if quantity and price and value:
        implied = value / (quantity * price)
        whole = implied.to_integral_value(rounding=ROUND_HALF_EVEN)
        if whole >= 1 and abs(implied - whole) <= MULTIPLIER_TOLERANCE * whole:
            return whole, "market_value"
    return Decimal(1), "assumed"


def is_working(order: Mapping[str, Any]) -> bool:
    """True when the order's status says it can still trigger (an absent status counts)."""
    status = order.get("status")
    return status is None or str(status).replace(" ", "").lower() in WORKING_STATUSES


@with_wide_decimals
def effective_stop_price(order: Mapping[str, Any], side: str,
                         market_price: Decimal | None) -> tuple[Decimal | None, str | None]:
    """The price at which the order triggers, and its source: order or trailing_from_market.

    A trailing order without a reported stop price trails the best price since it was placed;
    measured from the current price instead, the stop is at its loosest possible level, so the
    risk shown errs on the side of too much, never too little.
    """
    stop = to_decimal(order.get("stop_price"))
    if stop is not None:
        return stop, "order"
    trail = to_decimal(order.get("trailing_amount"))
    if trail is None or market_price is None:
        return None, None
    unit = str(order.get("trailing_unit") or "").strip().lower()
    offset = market_price * trail / HUNDRED if unit in {"%", "percent", "pct"} else trail
    computed = market_price - offset if side == "SELL" else market_price + offset
    return computed.quantize(PRICE_STEP, rounding=ROUND_HALF_EVEN), "trailing_from_market"


def no_stop() -> dict[str, Any]:
    """Risk fields for a position without a protective stop."""
    return {"has_stop": False, "stop_order_id": None, "stop_order_type": None,
            "stop_price": None, "stop_price_source": None, "stop_quantity": None,
            "covers_position": False, "distance": None, "distance_percent": None,
            "amount_at_risk": None, "multiplier": None, "multiplier_source": None}


@with_wide_decimals
def protective_stop(position: Mapping[str, Any],
                    stop_orders: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Risk fields for one position, given the stop orders of the same account."""
    quantity = to_decimal(position.get("quantity"))
    if quantity is None:
        return no_stop()
    side = closing_side(quantity)
    price = to_decimal(position.get("market_price"))
    conid = str(position.get("conid"))
    candidates: list[tuple[Decimal, str, Mapping[str, Any]]] = []
    for order in stop_orders:
        if str(order.get("conid")) != conid or not is_working(order):
            continue
        if side is None or str(order.get("side") or "").upper() != side:
            continue
        stop, source = effective_stop_price(order, side, price)
        if stop is not None and source is not None:
            candidates.append((stop, source, order))
    if not candidates:
        return no_stop()
    # Tightest = closest to the market on the loss side: the highest SELL stop, lowest BUY stop.
    pick = max if side == "SELL" else min
    stop, source, order = pick(candidates, key=lambda candidate: candidate[0])
    multiplier, multiplier_source = position_multiplier(position)
    order_quantity = to_decimal(order.get("quantity"))
    result = no_stop() | {
        "has_stop": True,
        "stop_order_id": None if order.get("order_id") is None else str(order.get("order_id")),
        "stop_order_type": order.get("order_type"),
        "stop_price": decimal_text(stop),
        "stop_price_source": source,
        "stop_quantity": decimal_text(order_quantity),
        # A stop for fewer shares than held leaves the rest unprotected: say so.
        "covers_position": order_quantity is None or abs(order_quantity) >= abs(quantity),
        "multiplier": decimal_text(multiplier),
        "multiplier_source": multiplier_source,
    }
    if price is not None:
        distance = price - stop if side == "SELL" else stop - price
        at_risk = quantity * (price - stop) * multiplier
        result["distance"] = decimal_text(distance)
        result["distance_percent"] = (
            decimal_text((distance / price * HUNDRED).quantize(CENT, rounding=ROUND_HALF_EVEN))
            if price != 0 else None)
        result["amount_at_risk"] = decimal_text(at_risk.quantize(CENT, rounding=ROUND_HALF_EVEN))
    return result


def account_risk(positions: Iterable[Mapping[str, Any]],
                 stop_orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Risk fields for each position of one account, in the positions' order."""
    orders = list(stop_orders)
    return [protective_stop(position, orders) for position in positions]


def risk_summary(positions: Iterable[Mapping[str, Any]],
                 risks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-account totals: positions with and without a stop, amount at risk per currency.

    Amounts are summed per position currency, never across currencies.
    """
    with_stop = without_stop = 0
    at_risk: dict[str, Decimal] = {}
    for position, risk in zip(positions, risks, strict=True):
        quantity = to_decimal(position.get("quantity"))
        if not quantity:
            continue
        if not risk["has_stop"]:
            without_stop += 1
            continue
        with_stop += 1
        amount = to_decimal(risk.get("amount_at_risk"))
        if amount is not None:
            currency = str(position.get("currency") or "")
            at_risk[currency] = at_risk.get(currency, Decimal(0)) + amount
    return {
        "positions_with_stop": with_stop,
        "positions_without_stop": without_stop,
        "amount_at_risk_by_currency": {currency: decimal_text(amount)
                                       for currency, amount in sorted(at_risk.items())},
    }


def annotate_account(account: dict[str, Any]) -> dict[str, Any]:
    """Add `risk` to each position of an account dict and `risk_summary` to the account."""
    positions = account.get("positions") or []
    risks = account_risk(positions, account.get("stop_orders") or [])
    for position, risk in zip(positions, risks, strict=True):
        position["risk"] = risk
    account["risk_summary"] = risk_summary(positions, risks)
    return account
