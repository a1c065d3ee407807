"""The control API under `/sim/` (not part of the gateway): session, book, prices, faults, counters.

Every change is validated in full before anything is applied, so a bad body changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ibkr_gateway_sim import control_specs, session_events
from ibkr_gateway_sim.gateway_api import sim_state
from ibkr_gateway_sim.gateway_shapes import order_row
from ibkr_gateway_sim.session import ManualClock

control = Blueprint("control", __name__, url_prefix="/sim")


class ControlError(Exception):
    """A control call that cannot be done; rendered as `{"error": {code, message}}`."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


@control.errorhandler(ControlError)
def _render_control_error(error: ControlError) -> tuple[Response, int]:
    return jsonify({"error": {"code": error.code, "message": error.message}}), error.status


@control.errorhandler(ValueError)
def _render_value_error(error: ValueError) -> tuple[Response, int]:
    return jsonify({"error": {"code": "invalid_request", "message": str(error)}}), 400


@control.before_request
def _close_ended_days() -> None:
    # Before a control call changes the book, days that ended close with the book as it was.
    state = sim_state()
    with state.lock:
        state.observe_history()


def _body() -> dict[str, Any]:
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object", code="invalid_json")
    return body


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ControlError(f"{name} must be true or false")
    return value


# --- session -------------------------------------------------------------------------------

@control.post("/login")
def login() -> Any:
    """Stand-in for the browser login (2FA included): opens the SSO and brokerage sessions."""
    body = _body()
    state = sim_state()
    with state.lock:
        state.session.login(state.now(), brokerage=_flag(body, "brokerage", True))
        return jsonify(state.session.describe(state.now()))


@control.post("/logout")
def logout() -> Any:
    """End the session as if the user logged out elsewhere."""
    state = sim_state()
    with state.lock:
        state.session.logout(reason="logged out by /sim/logout")
        return jsonify(state.session.describe(state.now()))


@control.post("/session/expire")
def expire() -> Any:
    """Drop the session now, as the idle timeout would."""
    state = sim_state()
    with state.lock:
        state.session.logout(reason="idle timeout")
        return jsonify(state.session.describe(state.now()))


@control.post("/session/competing")
def competing() -> Any:
    """Another platform logged in with the same user: the brokerage session is taken."""
    state = sim_state()
    with state.lock:
        if not state.session.logged_in:
            raise ControlError("log in first (POST /sim/login)", status=409, code="not_logged_in")
        state.session.make_competing()
        return jsonify(state.session.describe(state.now()))


@control.post("/session/connected")
def set_connected() -> Any:
    """Cut or restore the gateway's link to IBKR's backend (`connected` in the auth status)."""
    body = _body()
    connected = _flag(body, "connected", False)
    state = sim_state()
    with state.lock:
        state.session.connected = connected and state.session.logged_in
        if not connected:
            state.session.brokerage = False
        return jsonify(state.session.describe(state.now()))


@control.get("/session")
def session_status() -> Any:
    """The session as the simulator sees it."""
    state = sim_state()
    with state.lock:
        session_events.catch_up(state, state.now())
        return jsonify(state.session.describe(state.now()))


# --- book ----------------------------------------------------------------------------------

@control.get("/state")
def state_json() -> Any:
    """Accounts with net liquidation, positions and orders in the gateway's field names."""
    state = sim_state()
    with state.lock:
        return jsonify(state.state_json())


@control.put("/accounts")
def put_accounts() -> Any:
    """Replace every account (with their positions and orders)."""
    body = _body()
    state = sim_state()
    with state.lock:
        candidate = copy.deepcopy(state.book)
        candidate.accounts = control_specs.parse_accounts(body, candidate)
        state.book = candidate
        state.book_changed()
        return jsonify(state.state_json())


def _account_of(candidate: Any, account_id: str) -> Any:
    account = candidate.account(account_id)
    if account is None:
        raise ControlError(f"no account {account_id!r}", status=404, code="not_found")
    return account


@control.put("/accounts/<account_id>/positions")
def put_positions(account_id: str) -> Any:
    """Replace one account's positions."""
    body = _body()
    state = sim_state()
    with state.lock:
        candidate = copy.deepcopy(state.book)
        account = _account_of(candidate, account_id)
        account.positions = control_specs.parse_positions(body.get("positions"), candidate,
                                                          account, "positions")
        state.book = candidate
        state.book_changed()
        return jsonify(state.state_json())


@control.put("/accounts/<account_id>/orders")
def put_orders(account_id: str) -> Any:
    """Replace one account's orders."""
    body = _body()
    state = sim_state()
    with state.lock:
        candidate = copy.deepcopy(state.book)
        account = _account_of(candidate, account_id)
        account.orders = control_specs.parse_orders(body.get("orders"), candidate, account,
                                                    "orders")
        state.book = candidate
        return jsonify(state.state_json())


@control.post("/accounts/<account_id>/orders")
def add_order(account_id: str) -> Any:
    """Add one order to an account; answers the order in the gateway's shape."""
    body = _body()
    state = sim_state()
    with state.lock:
        account = _account_of(state.book, account_id)
        order = control_specs.parse_order(body, state.book, account)
        if any(o.order_id == order.order_id for a in state.book.accounts for o in a.orders):
            raise ControlError(f"order_id {order.order_id} exists", status=409, code="conflict")
        account.orders.append(order)
        return jsonify(order_row(state.book, order)), 201


@control.post("/orders/<int:order_id>")
def update_order(order_id: int) -> Any:
    """Change an order's status or filled quantity (e.g. a stop order fills)."""
    body = _body()
    state = sim_state()
    with state.lock:
        order = next((o for a in state.book.accounts for o in a.orders
                      if o.order_id == order_id), None)
        if order is None:
            raise ControlError(f"no order {order_id}", status=404, code="not_found")
        status = body.get("status", order.status)
        if status not in control_specs.ORDER_STATUSES:
            raise ControlError(f"status must be one of {', '.join(control_specs.ORDER_STATUSES)}")
        filled = body.get("filled_quantity", order.quantity if status == "Filled"
                          else order.filled_quantity)
        if isinstance(filled, bool) or not isinstance(filled, int | float) or filled < 0:
            raise ControlError("filled_quantity must be a number, 0 or more")
        order.status, order.filled_quantity = status, float(filled)
        return jsonify(order_row(state.book, order))


# --- prices --------------------------------------------------------------------------------

@control.put("/prices")
def put_prices() -> Any:
    """Set prices by conid: `{prices: {"265598": 191.5}}`."""
    body = _body()
    state = sim_state()
    with state.lock:
        changed = control_specs.apply_prices(body, state.book)
        return jsonify({"changed": {str(conid): price for conid, price in changed.items()}})


@control.post("/prices/tick")
def tick_prices() -> Any:
    """Move every price by `steps` steps of the seeded random walk (default 1)."""
    steps = _body().get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000:
        raise ControlError("steps must be an integer from 1 to 10000")
    state = sim_state()
    with state.lock:
        state.book.tick_prices(steps)
        return jsonify({"ticked": steps})


# --- settings, clock, faults, counters, reset ----------------------------------------------

@control.get("/config")
def get_config() -> Any:
    """The current options."""
    state = sim_state()
    with state.lock:
        return jsonify(state.options.as_json())


@control.post("/config")
def set_config() -> Any:
    """Change options (idle timeout, penalty box, pacing on/off, pre-flight, price ticks...)."""
    body = _body()
    state = sim_state()
    with state.lock:
        trial = copy.deepcopy(state.options)
        trial.update(body)  # raises before anything changes
        state.options.update(body)
    state.apply_options()  # outside the lock: it may restart the price ticker thread
    with state.lock:
        return jsonify(state.options.as_json())


@control.post("/pacing")
def set_pacing() -> Any:
    """Turn pacing on or off (`{enabled}`) and/or leave the penalty box (`{clear_penalty}`)."""
    body = _body()
    state = sim_state()
    with state.lock:
        if "enabled" in body:
            state.options.pacing_enabled = _flag(body, "enabled", True)
            state.pacer.enabled = state.options.pacing_enabled
        if _flag(body, "clear_penalty", False):
            state.pacer.penalty_until = 0.0
        return jsonify(state.pacer.report(state.now()))


@control.post("/clock/advance")
def advance_clock() -> Any:
    """Move a manual clock forward (only when the simulator was started with one)."""
    body = _body()
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ControlError("seconds must be a number, 0 or more")
    state = sim_state()
    if not isinstance(state.clock, ManualClock):
        raise ControlError("this simulator runs on the system clock (start it with a manual one)",
                           status=409, code="no_manual_clock")
    with state.lock:
        state.clock.advance(float(seconds))
        session_events.catch_up(state, state.now())  # events due meanwhile happen now
        return jsonify({"now": state.now()})


@control.get("/faults")
def list_faults() -> Any:
    """The active faults."""
    state = sim_state()
    with state.lock:
        return jsonify({"faults": [fault.as_json() for fault in state.faults.faults]})


@control.post("/faults")
def add_fault() -> Any:
    """Inject a fault: `{kind: latency|status|reset|slow_body, endpoint, count, delay_s, ...}`."""
    body = _body()
    state = sim_state()
    with state.lock:
        fault = state.faults.add(body)
        return jsonify(fault.as_json()), 201


@control.delete("/faults")
def clear_faults() -> Any:
    """Clear every fault."""
    state = sim_state()
    with state.lock:
        state.faults.clear()
        return jsonify({"faults": []})


@control.delete("/faults/<int:fault_id>")
def remove_fault(fault_id: int) -> Any:
    """Clear one fault."""
    state = sim_state()
    with state.lock:
        if not state.faults.remove(fault_id):
            raise ControlError(f"no fault {fault_id}", status=404, code="not_found")
        return jsonify({"faults": [fault.as_json() for fault in state.faults.faults]})


@control.get("/requests")
def request_counters() -> Any:
    """Per endpoint: count, refused_429, faulted, accepted, min_interval_s (and the limit)."""
    state = sim_state()
    with state.lock:
        return jsonify(state.pacer.report(state.now()))


@control.post("/reset")
def reset() -> Any:
    """Fresh start: the scenario's book (optionally another `scenario`/`seed`), logged out,
    no counters, faults, caches or penalty box."""
    body = _body()
    scenario, seed = body.get("scenario"), body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ControlError("seed must be an integer")
    if scenario is not None and not isinstance(scenario, str):
        raise ControlError("scenario must be a string")
    state = sim_state()
    with state.lock:
        state.reset(scenario=scenario, seed=seed)
        return jsonify({"reset": True, "scenario": state.options.scenario,
                        "seed": state.options.seed})


@control.get("/certificate")
def certificate() -> Any:
    """The simulator's self-signed certificate (PEM), for clients that pin it."""
    pem = current_app.config.get("SIMULATOR_CERTIFICATE_PEM")
    if not pem:
        raise ControlError("this simulator serves plain HTTP", status=404, code="not_found")
    return Response(pem, mimetype="application/x-pem-file")
