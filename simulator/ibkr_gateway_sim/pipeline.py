"""What happens to every gateway request before its endpoint runs: faults, pacing, session rules.

The order matters and follows the real path of a request: the network (faults) first, then the
gateway's rate limiter (which answers 429 even without a session), then the session checks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, jsonify, request

from ibkr_gateway_sim import session_events
from ibkr_gateway_sim.faults import Fault
from ibkr_gateway_sim.gateway_api import gateway_error, sim_state
from ibkr_gateway_sim.gateway_conf import GatewayConf

_log = logging.getLogger("ibkr_gateway_sim")

API_PREFIX = "/v1/api"
UNMATCHED_ENDPOINT = "(unmatched)"

# Reachable without any session (the rest answers 401 "not authenticated").
_OPEN_ENDPOINTS = {"/iserver/auth/status", "/logout"}
# /iserver endpoints that work with the SSO session alone (they open the brokerage session).
_BROKERAGE_OPENERS = {"/iserver/auth/ssodh/init", "/iserver/reauthenticate"}


def endpoint_template(rule: str | None) -> str:
    """`/v1/api/portfolio/<accountId>/positions/<int:pageId>` → `/portfolio/{accountId}/...`."""
    if rule is None:
        return UNMATCHED_ENDPOINT
    template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule[len(API_PREFIX):])
    return template.rstrip("/") or "/"


def install(app: Flask) -> None:
    """Hook the request pipeline into the app."""
    app.before_request(_refuse_callers_outside_allow_list)
    app.before_request(_before_gateway_request)
    app.after_request(_after_gateway_request)


def _refuse_callers_outside_allow_list() -> Response | None:
    # conf.yaml's ips.allow / ips.deny guard the gateway (not the simulator's control API, nor
    # the Flex Web Service, which is IBKR's internet service served here on the same port).
    if request.path.startswith(("/sim/", "/AccountManagement/", "/Universal/")):
        return None
    ips: GatewayConf = current_app.config["SIMULATOR_IPS"]
    if ips.allows(request.remote_addr or ""):
        return None
    return Response("Access Denied.", status=403, mimetype="text/html")


def _before_gateway_request() -> Response | None:
    if not request.path.startswith(API_PREFIX + "/"):
        return None
    state = sim_state()
    template = endpoint_template(request.url_rule.rule if request.url_rule else None)
    path = request.path[len(API_PREFIX):]
    with state.lock:
        faults = state.faults.take(template, path)
    answered = _apply_faults(faults, template)
    if answered is not None:
        return answered
    with state.lock:
        state.observe_history()  # a day that ended closes before anything reads the book
        now = state.now()
        decision = state.pacer.admit(template, now)
        if not decision.allowed:
            _log.info("429 for %s: %s", template, decision.reason)
            return gateway_error("Too Many Requests", 429)
        return _check_session(template, now)


def _apply_faults(faults: list[Fault], template: str) -> Response | None:
    state = sim_state()
    for fault in faults:
        if fault.kind == "reset":
            with state.lock:
                state.pacer.record_fault(template)
            handler = request.environ.get("ibkr_gateway_sim.handler")
            if handler is not None:
                handler.drop_connection()
            return Response(status=500)  # never reaches the client: the socket is gone
        if fault.kind == "status":
            with state.lock:
                state.pacer.record_fault(template)
            return gateway_error("Service Unavailable" if fault.status == 503
                                 else "Internal Server Error", fault.status)
    for fault in faults:
        with state.lock:
            state.pacer.counter(template).faulted += 1
        if fault.kind == "latency":
            fault.pause()  # outside the lock: other requests go on meanwhile
        elif fault.kind == "slow_body":
            g.slow_body_fault = fault
    return None


def _check_session(template: str, now: float) -> Response | None:
    state = sim_state()
    session = state.session
    session_events.catch_up(state, now)  # the timeline's events, idle and lifetime rules
    if now < session.unreachable_until:  # a restarting gateway: nothing listens
        handler = request.environ.get("ibkr_gateway_sim.handler")
        if handler is not None:
            handler.drop_connection()
        return Response(status=502)
    if session.iserver_down_until and template.startswith("/iserver/"):
        return gateway_error("Service Unavailable", 503)  # the nightly reset's outage
    if template in _OPEN_ENDPOINTS:
        session.touch(now)
        return None
    if not session.logged_in:
        if template == "/tickle" and state.options.tickle_no_session_200:
            return jsonify({"error": "no session"})
        return gateway_error("not authenticated", 401)
    session.touch(now)
    needs_brokerage = template.startswith("/iserver/") and template not in _BROKERAGE_OPENERS
    if needs_brokerage and not session.brokerage:
        return gateway_error("Bad Request: no bridge", 400)
    return None


def _after_gateway_request(response: Response) -> Response:
    fault: Fault | None = g.pop("slow_body_fault", None)
    if fault is None:
        return response
    body = response.get_data()

    def trickle() -> Iterator[bytes]:
        # Headers go out at once; the body follows a few bytes at a time.
        for start in range(0, len(body), fault.chunk_size):
            if start:
                fault.pause()
            yield body[start:start + fault.chunk_size]

    slow = Response(trickle(), status=response.status_code, headers=dict(response.headers),
                    direct_passthrough=True)
    slow.headers["Content-Length"] = str(len(body))
    return slow
