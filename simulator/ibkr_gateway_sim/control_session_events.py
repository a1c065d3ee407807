"""The control API's session scenarios: `/sim/session/event` now, `/sim/timeline` later.

See `session_events.py` for the events and docs/simulator.md for the bodies.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ibkr_gateway_sim import session_events
from ibkr_gateway_sim.gateway_api import sim_state

session_control = Blueprint("session_control", __name__, url_prefix="/sim")


@session_control.errorhandler(ValueError)
def _render_value_error(error: ValueError) -> tuple[Response, int]:
    return jsonify({"error": {"code": "invalid_request", "message": str(error)}}), 400


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


@session_control.post("/session/event")
def session_event() -> Any:
    """Apply one event now: `{event: "competing_start", platform: "TWS"}`."""
    body = _body()
    state = sim_state()
    with state.lock:
        event = session_events.parse_event(body, state.now(), timed=False)
        session_events.apply_now(state, event)
        return jsonify(state.session.describe(state.now()))


@session_control.post("/timeline")
def schedule_timeline() -> Any:
    """Schedule events: `{events: [{at_s: 3600, event: "nightly_reset", outage_s: 120}, ...]}`
    (`at_s` from now on the simulator's clock); all are checked before any is added."""
    events = _body().get("events")
    if not isinstance(events, list) or not events:
        raise ValueError("events must be a non-empty list")
    state = sim_state()
    with state.lock:
        now = state.now()
        parsed = [session_events.parse_event(item, now, timed=True) for item in events]
        state.timeline.schedule(parsed)
        session_events.catch_up(state, now)  # events at at_s 0 happen now
        return jsonify(state.timeline.as_json(now)), 201


@session_control.get("/timeline")
def show_timeline() -> Any:
    """Pending and applied events, and the clock."""
    state = sim_state()
    with state.lock:
        session_events.catch_up(state, state.now())
        return jsonify(state.timeline.as_json(state.now()))


@session_control.delete("/timeline")
def clear_timeline() -> Any:
    """Forget every pending and applied event."""
    state = sim_state()
    with state.lock:
        state.timeline.clear()
        return jsonify(state.timeline.as_json(state.now()))
