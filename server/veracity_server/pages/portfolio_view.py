"""What the page shows of the portfolio: totals per currency, accounts, positions with their
protective stops, stop orders, and charts of value over time.

Input: the JSON document of `GET /api/v1/profile/ibkr/portfolio` (risk fields included, see
veracity_server/profile/risk.py). Output: display dicts for the templates. Different currencies are
never added together: totals are per currency, and the page says so when there are several.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from veracity_server.pages.chart import Series, build_chart
from veracity_server.pages.formatting import (
    as_decimal,
    iso,
    money,
    number,
    order_type,
    parse_time,
    price,
    short_datetime,
    signed_class,
    time_ago,
)


def trailing_text(order: dict[str, Any]) -> str:
    """`5` or `2%` for a trailing order; an em dash otherwise."""
    amount = order.get("trailing_amount")
    if amount is None:
        return "—"
    unit = str(order.get("trailing_unit") or "")
    return f"{number(amount)}%" if unit.strip().lower() in {"%", "percent", "pct"} else number(
        amount)


def position_row(position: dict[str, Any]) -> dict[str, Any]:
    """Display text for one position and its protective stop."""
    currency = position.get("currency") or ""
    risk = position.get("risk") or {}
    row = {
        "conid": position.get("conid"),
        "symbol": position.get("symbol") or str(position.get("conid") or "—"),
        "description": position.get("description") or "",
        "asset_class": position.get("asset_class") or "",
        "quantity": number(position.get("quantity")),
        "price": price(position.get("market_price")),
        "value": money(position.get("market_value"), currency),
        "currency": currency,
        "pnl": money(position.get("unrealized_pnl"), currency),
        "pnl_class": signed_class(position.get("unrealized_pnl")),
        "has_stop": bool(risk.get("has_stop")),
        "flat": as_decimal(position.get("quantity")) == 0,
    }
    if row["has_stop"]:
        percent = risk.get("distance_percent")
        row.update({
            "stop_price": price(risk.get("stop_price")),
            "stop_type": order_type(risk.get("stop_order_type")),
            "stop_order_id": risk.get("stop_order_id"),
            "distance": (f"{price(risk.get('distance'))} ({percent}%)"
                         if risk.get("distance") is not None and percent is not None
                         else price(risk.get("distance"))),
            "at_risk": money(risk.get("amount_at_risk"), currency),
            "partial": not risk.get("covers_position", True),
            "stop_quantity": number(risk.get("stop_quantity")),
            "estimated": risk.get("stop_price_source") == "trailing_from_market",
        })
    return row


def stop_order_row(order: dict[str, Any], protecting: dict[str, str],
                   held_conids: set[str]) -> dict[str, Any]:
    """Display text for one working stop order, and what it protects."""
    order_id = str(order.get("order_id"))
    conid = str(order.get("conid"))
    if order_id in protecting:
        role = protecting[order_id]
    elif conid in held_conids:
        role = "Looser stop (another stop is tighter)"
    else:
        role = "No matching position"
    return {
        "order_id": order_id,
        "symbol": order.get("symbol") or conid,
        "side": order.get("side") or "—",
        "order_type": order_type(order.get("order_type")),
        "quantity": number(order.get("quantity")),
        "stop_price": price(order.get("stop_price")),
        "limit_price": price(order.get("limit_price")),
        "trailing": trailing_text(order),
        "time_in_force": order.get("time_in_force") or "—",
        "status": order.get("status") or "—",
        "role": role,
    }


def account_view(account: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Display text for one account: figures, positions, stop orders, risk summary."""
    currency = account.get("base_currency") or ""
    positions = [position_row(position) for position in account.get("positions") or []]
    protecting = {row["stop_order_id"]: f"{row['symbol']} ({row['quantity']})"
                  for row in positions if row["has_stop"]}
    held = {str(row["conid"]) for row in positions if not row["flat"]}
    orders = [stop_order_row(order, protecting, held) for order in account.get("stop_orders") or []]
    summary = account.get("risk_summary") or {}
    at_risk = [money(amount, code) for code, amount in
               (summary.get("amount_at_risk_by_currency") or {}).items()]
    taken_at = account_time(account)
    position_count = int(account.get("position_count") or len(positions))
    return {
        "account_id": account.get("account_id") or "—",
        "current": account.get("current", True),
        "position_count": position_count,
        "positions_hidden": max(0, position_count - len(positions)),
        "base_currency": currency,
        "net_liquidation": money(account.get("net_liquidation"), currency),
        "cash": money(account.get("cash"), currency),
        "positions": positions,
        "stop_orders": orders,
        "without_stop": sum(1 for row in positions if not row["has_stop"] and not row["flat"]),
        "at_risk": at_risk,
        "synced_ago": time_ago(taken_at, now),
        "synced_iso": iso(taken_at),
        "synced_full": short_datetime(taken_at),
    }


def account_time(account: dict[str, Any]) -> datetime | None:
    """When the account's current state was taken by the connector."""
    return parse_time(account.get("taken_at"))


def currency_totals(portfolio: dict[str, Any],
                    accounts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Net liquidation per base currency, as the API sums it (never across currencies)."""
    counts: dict[str, int] = defaultdict(int)
    for account in accounts:
        if as_decimal(account.get("net_liquidation")) is not None:
            counts[account.get("base_currency") or ""] += 1
    totals = portfolio.get("net_liquidation_by_currency") or {}
    return [{"currency": code, "amount": money(amount, code),
             "accounts": f"{counts[code]} account{'s' if counts[code] != 1 else ''}"}
            for code, amount in sorted(totals.items())]


def history_series(portfolio: dict[str, Any]) -> dict[str, list[Series]]:
    """Value-over-time series per currency, one per account, from the API's value history."""
    by_currency: dict[str, list[Series]] = defaultdict(list)
    for entry in portfolio.get("value_history") or []:
        points = []
        sources: dict[datetime, str] = {}
        for point in entry.get("points") or []:
            moment = parse_time(point.get("taken_at"))
            value = as_decimal(point.get("net_liquidation"))
            if moment is not None and value is not None:
                points.append((moment, value))
                if point.get("source") not in (None, "live"):
                    sources[moment] = str(point["source"])
        code = entry.get("currency") or ""
        by_currency[code].append(Series(label=str(entry.get("account_id") or "—"),
                                        currency=code, points=points, sources=sources))
    return by_currency


RECONCILIATION_KINDS = {"nav": "Net asset value", "currency": "Base currency",
                        "quantity": "Quantity"}
RECONCILIATION_SOURCES = {"gateway": "Gateway history", "flex": "Flex statement"}


def reconciliation_rows(portfolio: dict[str, Any]) -> list[dict[str, Any]]:
    """Display text for each difference between history and the live end of day (newest
    day first, as the API orders them), with both values and their difference."""
    rows = []
    for item in (portfolio.get("reconciliation") or {}).get("differences") or []:
        kind = item.get("kind")
        live, history = item.get("live_value"), item.get("history_value")
        currency = item.get("currency") or ""
        if kind == "nav":
            shown = (money(live, currency), money(history, currency))
            gap = as_decimal(history), as_decimal(live)
            difference = (money(gap[0] - gap[1], currency)
                          if gap[0] is not None and gap[1] is not None else "—")
        elif kind == "quantity":
            shown = (number(live), number(history))
            gap = as_decimal(history), as_decimal(live)
            difference = (number(gap[0] - gap[1])
                          if gap[0] is not None and gap[1] is not None else "—")
        else:
            shown, difference = (live or "—", history or "—"), "—"
        what = RECONCILIATION_KINDS.get(str(kind), str(kind))
        if kind == "quantity":
            what = f"{what} of {item.get('symbol') or item.get('conid')}"
        rows.append({"report_date": item.get("report_date") or "—",
                     "account_id": item.get("account_id") or "—",
                     "source": RECONCILIATION_SOURCES.get(str(item.get("source")),
                                                          str(item.get("source"))),
                     "kind": kind, "what": what, "conid": item.get("conid"),
                     "live": shown[0], "history": shown[1], "difference": difference})
    return rows


def portfolio_page(portfolio: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Everything the portfolio region shows."""
    now = now or datetime.now(UTC)
    accounts = list(portfolio.get("accounts") or [])
    views = [account_view(account, now) for account in accounts]
    times = [moment for moment in (account_time(account) for account in accounts) if moment]
    last_sync = parse_time(portfolio.get("as_of")) or (max(times) if times else None)
    totals = currency_totals(portfolio, [account for account in accounts
                                         if account.get("current", True)])
    charts = [build_chart(code, series)
              for code, series in sorted(history_series(portfolio).items())]
    return {
        "has_data": bool(accounts),
        "accounts": views,
        "totals": totals,
        "mixed_currencies": len(totals) > 1,
        "charts": [chart for chart in charts if chart.lines],
        "last_sync_ago": time_ago(last_sync, now),
        "last_sync_iso": iso(last_sync),
        "last_sync_full": short_datetime(last_sync),
        "position_count": sum(view["position_count"] for view in views),
        "without_stop": sum(view["without_stop"] for view in views),
        "reconciliation": reconciliation_rows(portfolio),
        "reconciliation_total": int((portfolio.get("reconciliation") or {}).get("total") or 0),
    }
