"""Control calls for the Flex simulator under `/sim/flex/` (tokens, queries, errors, timing).

Time itself is the simulator's clock: `POST /sim/clock/advance` moves token expiry, rate
windows and generation delays along with everything else.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ibkr_gateway_sim.flex.service import (
    DEFAULT_TOKEN_LIFETIME_S,
    DEMO_DAILY_QUERY_ID,
    DEMO_QUERY_ID,
    DEMO_TOKEN,
    PERIODS,
    SECTIONS,
    FlexQuery,
)
from ibkr_gateway_sim.gateway_api import sim_state

flex_control = Blueprint("flex_control", __name__, url_prefix="/sim/flex")


@flex_control.errorhandler(ValueError)
def _render_value_error(error: ValueError) -> tuple[Response, int]:
    return jsonify({"error": {"code": "invalid_request", "message": str(error)}}), 400


def _not_found(message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": "not_found", "message": message}}), 404


def _body() -> dict[str, Any]:
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _seconds(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of seconds")
    return float(value)


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a non-empty string or null")
    return value


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _overview() -> dict[str, Any]:
    state = sim_state()
    now = state.now()
    return {"settings": state.flex.settings.as_json(),
            "tokens": [token.as_json(now) for token in state.flex.tokens.values()],
            "queries": [query.as_json() for query in state.flex.queries.values()],
            "demo": {"token": DEMO_TOKEN, "query_id": DEMO_QUERY_ID,
                     "daily_query_id": DEMO_DAILY_QUERY_ID}}


@flex_control.get("")
def overview() -> Any:
    """Settings, tokens, queries and the demo token/query ids."""
    state = sim_state()
    with state.lock:
        state.flex.ensure_demo(state.now())
        return jsonify(_overview())


@flex_control.post("/config")
def configure() -> Any:
    """Change `generation_delay_s`, `generation_polls`, `in_progress_status`,
    `rate_limit_enabled`, `per_second`, `per_minute`."""
    body = _body()
    state = sim_state()
    with state.lock:
        copy.deepcopy(state.flex.settings).update(body)  # raises before anything changes
        state.flex.settings.update(body)
        return jsonify(state.flex.settings.as_json())


@flex_control.post("/tokens")
def create_token() -> Any:
    """A new token: `{token?, expires_in_s? (6 h), ip?, active?}` → 201."""
    body = _body()
    state = sim_state()
    with state.lock:
        state.flex.ensure_demo(state.now())
        token = state.flex.create_token(
            state.now(), token=_optional_text(body, "token"),
            expires_in_s=_seconds(body, "expires_in_s", DEFAULT_TOKEN_LIFETIME_S),
            ip=_optional_text(body, "ip"), active=_flag(body, "active", True))
        return jsonify(token.as_json(state.now())), 201


@flex_control.post("/tokens/<token>")
def change_token(token: str) -> Any:
    """Change a token: `{expires_in_s?, ip?, active?}` (expires_in_s 0 expires it now)."""
    body = _body()
    state = sim_state()
    with state.lock:
        state.flex.ensure_demo(state.now())
        found = state.flex.tokens.get(token)
        if found is None:
            return _not_found(f"no token {token!r}")
        expires_at = state.now() + _seconds(body, "expires_in_s", 0) \
            if "expires_in_s" in body else found.expires_at
        ip = _optional_text(body, "ip") if "ip" in body else found.ip
        active = _flag(body, "active", found.active)
        found.expires_at, found.ip, found.active = expires_at, ip, active
        return jsonify(found.as_json(state.now()))


@flex_control.delete("/tokens/<token>")
def delete_token(token: str) -> Any:
    """Forget a token (it then answers 1015, as a replaced token does)."""
    state = sim_state()
    with state.lock:
        if state.flex.tokens.pop(token, None) is None:
            return _not_found(f"no token {token!r}")
        return jsonify({"deleted": token})


def _query_from(body: dict[str, Any], query_id: str) -> FlexQuery:
    period = body.get("period", "Last365CalendarDays")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    days = body.get("days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= 365):
        raise ValueError("days must be an integer from 1 to 365")
    if period == "LastNCalendarDays" and days is None:
        raise ValueError("period LastNCalendarDays needs days")
    sections = body.get("sections", list(SECTIONS))
    if not isinstance(sections, list) or any(section not in SECTIONS for section in sections):
        raise ValueError(f"sections must be a list of {', '.join(SECTIONS)}")
    accounts = body.get("accounts")
    if accounts is not None and (not isinstance(accounts, list)
                                 or not all(isinstance(a, str) for a in accounts)):
        raise ValueError("accounts must be a list of account ids or null (all)")
    choices = {"output": ("XML", "CSV"), "positions": ("daily", "end"),
               "date_format": ("yyyyMMdd", "yyyy-MM-dd")}
    for name, allowed in choices.items():
        if body.get(name, allowed[0]) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return FlexQuery(query_id=query_id, name=body.get("name") or "Simulated Flex query",
                     period=period, days=days, sections=tuple(sections),
                     accounts=tuple(accounts) if accounts is not None else None,
                     output=body.get("output", "XML"), legacy=_flag(body, "legacy", False),
                     positions=body.get("positions", "daily"),
                     date_format=body.get("date_format", "yyyyMMdd"),
                     quirks=_flag(body, "quirks", False))


@flex_control.post("/queries")
def create_query() -> Any:
    """Save a query: `{query_id?, name?, period?, days?, sections?, accounts?, output?,
    legacy?, positions?, date_format?, quirks?}` → 201 (an existing id is replaced)."""
    body = _body()
    state = sim_state()
    with state.lock:
        state.flex.ensure_demo(state.now())
        query_id = body.get("query_id")
        if query_id is None:
            query_id = str(max((int(q) for q in state.flex.queries if q.isdigit()),
                               default=900000) + 1)
        if not isinstance(query_id, str) or not query_id.isdigit():
            raise ValueError("query_id must be a string of digits")
        query = _query_from(body, query_id)
        state.flex.queries[query_id] = query
        return jsonify(query.as_json()), 201


@flex_control.delete("/queries/<query_id>")
def delete_query(query_id: str) -> Any:
    """Forget a query (it then answers 1014)."""
    state = sim_state()
    with state.lock:
        if state.flex.queries.pop(query_id, None) is None:
            return _not_found(f"no query {query_id!r}")
        return jsonify({"deleted": query_id})


@flex_control.post("/errors")
def inject_error() -> Any:
    """Answer an error code: `{code, step? (SendRequest|GetStatement), count?}` → 201."""
    body = _body()
    state = sim_state()
    with state.lock:
        code = body.get("code")
        if isinstance(code, bool) or not isinstance(code, int):
            raise ValueError("code must be an error code such as 1019")
        injected = state.flex.inject_error(code, body.get("step"), body.get("count", 1))
        return jsonify({"id": injected.error_id, "code": injected.code, "step": injected.step,
                        "remaining": injected.remaining}), 201


@flex_control.delete("/errors")
def clear_errors() -> Any:
    """Clear every injected error."""
    state = sim_state()
    with state.lock:
        state.flex.errors.clear()
        return jsonify({"errors": []})


@flex_control.post("/faults")
def add_fault() -> Any:
    """A transport fault: `{kind: status|html|truncated|latency, step?, count? (1), status?
    (503), delay_s? (1)}` → 201."""
    body = _body()
    state = sim_state()
    with state.lock:
        return jsonify(state.flex.transport.add(body).as_json()), 201


@flex_control.delete("/faults")
def clear_faults() -> Any:
    """Clear every transport fault (a held-back answer goes out at once)."""
    state = sim_state()
    with state.lock:
        state.flex.transport.clear()
        return jsonify({"faults": []})


@flex_control.get("/requests")
def counters() -> Any:
    """Calls per step, per-token counts (count, refused_1018, min_interval_s), pending codes."""
    state = sim_state()
    with state.lock:
        return jsonify(state.flex.report(state.now()))


@flex_control.post("/reset")
def reset() -> Any:
    """Back to the demo token and queries, default settings, no counters or errors."""
    state = sim_state()
    with state.lock:
        state.flex.reset()
        state.flex.ensure_demo(state.now())
        return jsonify(_overview())
