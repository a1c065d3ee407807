"""Control calls under `/sim/history/`: read the daily closes without IBKR's pacing, and script
corrections (a past day that differs from what the gateway showed) for reconciliation tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ibkr_gateway_sim.gateway_api import sim_state
from ibkr_gateway_sim.nav_history import business_days

history_control = Blueprint("history_control", __name__, url_prefix="/sim/history")


@history_control.errorhandler(ValueError)
def _render_value_error(error: ValueError) -> tuple[Response, int]:
    return jsonify({"error": {"code": "invalid_request", "message": str(error)}}), 400


def _date(text: Any, name: str) -> dt.date:
    """`yyyymmdd` or `yyyy-mm-dd`."""
    if isinstance(text, str):
        for pattern in ("%Y%m%d", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(text, pattern).date()
            except ValueError:
                continue
    raise ValueError(f"{name} must be a date as yyyymmdd or yyyy-mm-dd")


@history_control.get("")
def closes() -> Any:
    """`?account_id=U1234567&from=yyyymmdd&to=yyyymmdd` (default: the last 30 days) → one
    entry per business day with a close: `{date, nav, observed, corrected, positions}`."""
    state = sim_state()
    account_id = request.args.get("account_id", "")
    with state.lock:
        state.observe_history()
        if state.book.account(account_id) is None and account_id not in state.history.anchors:
            raise ValueError(f"account_id {account_id!r} is not an account of the book")
        last = state.history.last_closed_day()
        end = _date(request.args["to"], "to") if "to" in request.args else last
        start = _date(request.args["from"], "from") if "from" in request.args \
            else end - dt.timedelta(days=30)
        days = []
        for day in business_days(start, end):
            close = state.history.close(account_id, day)
            if close is None:
                continue
            days.append({"date": day.strftime("%Y%m%d"), "nav": close.nav,
                         "observed": close.observed,
                         "corrected": (account_id, day) in state.history.corrections,
                         "positions": {str(p.contract.conid): p.quantity
                                       for p in close.positions}})
        return jsonify({"account_id": account_id, "days": days})


@history_control.post("/corrections")
def correct() -> Any:
    """`{account_id, date, nav?, quantities?: {"conid": quantity}}` → 201: that day's close (in
    /pa/performance and Flex alike) differs from what the gateway showed."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    day = _date(body.get("date"), "date")
    nav = body.get("nav")
    if nav is not None and (isinstance(nav, bool) or not isinstance(nav, int | float)):
        raise ValueError("nav must be a number")
    raw = body.get("quantities") or {}
    if not isinstance(raw, dict):
        raise ValueError("quantities must be an object of conid → quantity")
    quantities = {}
    for conid, quantity in raw.items():
        if not str(conid).isdigit() or isinstance(quantity, bool) \
                or not isinstance(quantity, int | float):
            raise ValueError("quantities must map conids (digits) to numbers")
        quantities[int(conid)] = float(quantity)
    if nav is None and not quantities:
        raise ValueError("give nav and/or quantities")
    state = sim_state()
    with state.lock:
        account_id = body.get("account_id")
        if not isinstance(account_id, str):
            raise ValueError("account_id must be an account id")
        state.history.correct(account_id, day, float(nav) if nav is not None else None,
                              quantities)
        return jsonify({"account_id": account_id, "date": day.strftime("%Y%m%d"),
                        "nav": nav, "quantities": {str(k): v for k, v in quantities.items()}}), 201


@history_control.delete("/corrections")
def clear_corrections() -> Any:
    """Every past day back to what the gateway showed."""
    state = sim_state()
    with state.lock:
        state.history.corrections.clear()
        return jsonify({"corrections": []})
