"""What the connector should report for a simulator state, written independently of client/.

The simulator's `/sim/state` uses the gateway's field names; these helpers derive the contract's
view (every position; only working stop-type orders) without using the connector's code, so a
mapping bug in the connector cannot hide in the expectation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

STOP_TYPES = {"Stop", "Stop Limit", "TRAILING_STOP", "TRAILING_STOP_LIMIT",
              "STP", "STOP_LIMIT", "TRAIL", "TRAILLMT"}
WORKING = {"PendingSubmit", "PreSubmitted", "Submitted"}


def number(value: Any) -> Decimal | None:
    """Exact value of a JSON number or decimal string (None stays None)."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def expected_accounts(sim_state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """account_id → {positions: {conid: fields}, stop_orders: {order_id: fields}, ...}."""
    accounts = {}
    for account in sim_state["accounts"]:
        positions = {
            int(row["conid"]): {
                "quantity": number(row["position"]),
                "market_price": number(row["mktPrice"]),
                "market_value": number(row["mktValue"]),
                "average_cost": number(row["avgCost"]),
                "currency": row["currency"],
            }
            for row in account["positions"]
        }
        stop_orders = {
            str(order["orderId"]): {
                "conid": int(order["conid"]),
                "side": order["side"],
                "status": order["status"],
                "quantity": number(order["remainingQuantity"]),
            }
            for order in account["orders"]
            if order["orderType"] in STOP_TYPES and order["status"] in WORKING
        }
        accounts[account["account_id"]] = {
            "base_currency": account["base_currency"],
            "net_liquidation": number(account["net_liquidation"]),
            "positions": positions,
            "stop_orders": stop_orders,
        }
    return accounts


def reported_accounts(accounts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same view of accounts in the contract's shape (a snapshot or the server's answer)."""
    result = {}
    for account in accounts:
        result[account["account_id"]] = {
            "base_currency": account["base_currency"],
            "net_liquidation": number(account["net_liquidation"]),
            "positions": {
                int(position["conid"]): {
                    "quantity": number(position["quantity"]),
                    "market_price": number(position["market_price"]),
                    "market_value": number(position["market_value"]),
                    "average_cost": number(position["average_cost"]),
                    "currency": position["currency"],
                }
                for position in account["positions"]
            },
            "stop_orders": {
                str(order["order_id"]): {
                    "conid": int(order["conid"]),
                    "side": order["side"],
                    "status": order["status"],
                    "quantity": number(order["quantity"]),
                }
                for order in account["stop_orders"]
            },
        }
    return result
