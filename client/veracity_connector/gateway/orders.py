"""Live orders, filtered to the stop-type orders that still protect a position.

* `GET /iserver/accounts` must come before `/iserver/account/orders` in a session.
* Orders are read per account (`accountId=`): without it the gateway can answer a false empty
  list. The endpoint is paced at 1 per 5 s, so several accounts take several intervals.
* The first call in a session may come back empty ("pre-flight", `snapshot: false`): an empty
  answer with `snapshot: false` (or, without the flag, the first empty answer for an account in
  this session) is asked again, at most twice; the pacer spaces the retries.
* The gateway's `filters` are reported inconsistent: filtering happens here.
"""

from __future__ import annotations

import logging
from typing import Any

from veracity_connector.gateway.errors import GatewayProtocolError
from veracity_connector.gateway.transport import GatewayTransport
from veracity_connector.numbers import (
    CODE_MAX,
    ORDER_ID_MAX,
    SHORT_CODE_MAX,
    SYMBOL_MAX,
    NumberFormatError,
    bounded_text,
    lenient_conid,
    lenient_decimal,
    parse_trailing_amount,
)

logger = logging.getLogger(__name__)

# Display strings (orderType) and the placing codes both occur; normalised as
# lower case with spaces/hyphens → "_".
STOP_ORDER_TYPES: dict[str, str] = {
    "stop": "stop",
    "stp": "stop",
    "stop_limit": "stop_limit",
    "stp_lmt": "stop_limit",
    "stoplimit": "stop_limit",
    "trailing_stop": "trailing_stop",
    "trail": "trailing_stop",
    "trailingstop": "trailing_stop",
    "trailing_stop_limit": "trailing_stop_limit",
    "traillmt": "trailing_stop_limit",
    "trail_limit": "trailing_stop_limit",
    "trailing_limit": "trailing_stop_limit",
}
WORKING_STATUSES = {"pendingsubmit", "presubmitted", "submitted"}
TRAILING_TYPES = {"trailing_stop", "trailing_stop_limit"}
WITH_LIMIT_PRICE = {"stop_limit", "trailing_stop_limit"}
PREFLIGHT_RETRIES = 2


def normalised_stop_type(order: dict[str, Any]) -> str | None:
    """The contract's order_type for a stop-type order, or None for any other order."""
    for field in ("orderType", "origOrderType"):
        raw = order.get(field)
        if isinstance(raw, str) and raw.strip():
            key = raw.strip().lower().replace(" ", "_").replace("-", "_")
            return STOP_ORDER_TYPES.get(key)
    return None


def is_working(order: dict[str, Any]) -> bool:
    """True while the order can still fill (PendingSubmit, PreSubmitted, Submitted)."""
    status = order.get("status") or order.get("order_status") or ""
    return str(status).replace(" ", "").replace("_", "").lower() in WORKING_STATUSES


def to_stop_order(order: dict[str, Any]) -> dict[str, Any] | None:
    """Map a gateway order to the contract's stop_orders item (None if not a working stop)."""
    order_type = normalised_stop_type(order)
    if order_type is None or not is_working(order):
        return None
    remaining = lenient_decimal(order.get("remainingQuantity"), "remainingQuantity")
    quantity = remaining if remaining is not None else lenient_decimal(order.get("totalSize"),
                                                                        "totalSize")
    stop_price = lenient_decimal(order.get("stop_price"), "stop_price")
    trailing_amount = trailing_unit = None
    if order_type in TRAILING_TYPES:
        trailing_amount, trailing_unit = _trailing(order)
    elif stop_price is None:
        stop_price = lenient_decimal(order.get("auxPrice"), "auxPrice")
    limit_price = (lenient_decimal(order.get("price"), "price")
                   if order_type in WITH_LIMIT_PRICE else None)
    conid = lenient_conid(order.get("conid"))
    raw_order_id = order.get("orderId") or order.get("order_id")
    # An id cut to fit would name another order: one that does not fit skips the row instead.
    order_id = None if raw_order_id is None else str(raw_order_id)
    if order_id is not None and not 1 <= len(order_id) <= ORDER_ID_MAX:
        order_id = None
    side = str(order.get("side") or "").strip().upper()
    if conid is None or order_id is None or side not in {"BUY", "SELL"}:
        # Without these the server cannot use the order (and would refuse the snapshot).
        logger.warning("skipped a stop order without a usable conid, order id or side")
        return None
    return {
        "order_id": order_id,
        "conid": conid,
        "symbol": bounded_text(order.get("ticker") or order.get("symbol"), SYMBOL_MAX),
        "side": side,
        "order_type": order_type,
        "quantity": quantity,
        "stop_price": stop_price,
        "limit_price": limit_price,
        "trailing_amount": trailing_amount,
        "trailing_unit": trailing_unit,
        "time_in_force": bounded_text(order.get("timeInForce"), SHORT_CODE_MAX),
        "status": bounded_text(order.get("status"), CODE_MAX),
    }


def _trailing(order: dict[str, Any]) -> tuple[Any, str | None]:
    """Trailing amount and unit from trailingAmount/trailingType, else from auxPrice ("5%")."""
    try:
        if order.get("trailingAmount") is not None:
            amount, unit = parse_trailing_amount(order.get("trailingAmount"))
            if order.get("trailingType") in {"%", "amt"}:
                unit = order["trailingType"]
            return amount, unit
        return parse_trailing_amount(order.get("auxPrice"))
    except NumberFormatError:
        logger.warning("the gateway sent an unreadable trailing amount; sent as null")
        return None, None


class OrdersReader:
    """Reads live orders per account, handling the gateway's pre-flight quirk."""

    def __init__(self, transport: GatewayTransport) -> None:
        self._transport = transport
        self._primed_accounts: set[str] = set()

    def new_session(self) -> None:
        """Forget which accounts were primed (the gateway session was re-established)."""
        self._primed_accounts.clear()

    def brokerage_accounts(self) -> list[str]:
        """`GET /iserver/accounts` — required before orders; returns the account ids."""
        body = self._transport.request("GET", "/iserver/accounts")
        accounts = body.get("accounts") if isinstance(body, dict) else None
        return [str(account) for account in accounts or []]

    def live_orders(self, account_id: str) -> list[dict[str, Any]]:
        """Every live order of `account_id` as the gateway describes it."""
        orders: list[dict[str, Any]] = []
        for attempt in range(PREFLIGHT_RETRIES + 1):
            body = self._transport.request("GET", "/iserver/account/orders",
                                           params={"accountId": account_id})
            if not isinstance(body, dict):
                raise GatewayProtocolError("/iserver/account/orders did not return an object")
            orders = [order for order in body.get("orders") or [] if isinstance(order, dict)]
            first_in_session = account_id not in self._primed_accounts
            self._primed_accounts.add(account_id)
            # snapshot: true means "this is the complete list", so an empty one is believed.
            # snapshot: false is the pre-flight answer; a missing flag is only doubted once.
            snapshot_flag = body.get("snapshot")
            preflight = not orders and (
                snapshot_flag is False or (snapshot_flag is None and first_in_session))
            if not preflight:
                break
            if attempt < PREFLIGHT_RETRIES:
                logger.debug("orders came back empty (pre-flight); asking again")
        # An account filter that the gateway ignored would mix accounts: keep ours only.
        return [order for order in orders if str(order.get("acct", account_id)) == account_id]

    def stop_orders(self, account_id: str) -> list[dict[str, Any]]:
        """The account's working stop-type orders in the contract's shape."""
        mapped = (to_stop_order(order) for order in self.live_orders(account_id))
        return [order for order in mapped if order is not None]
