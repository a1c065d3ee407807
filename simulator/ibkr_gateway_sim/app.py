"""The simulator's Flask app: gateway endpoints, the control API and a stand-in login page."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, redirect, request
from werkzeug.exceptions import HTTPException

from ibkr_gateway_sim import pipeline
from ibkr_gateway_sim.control_api import control
from ibkr_gateway_sim.control_session_events import session_control
from ibkr_gateway_sim.flex.api import flex_service
from ibkr_gateway_sim.flex.control_api import flex_control
from ibkr_gateway_sim.gateway_api import gateway, gateway_error
from ibkr_gateway_sim.gateway_conf import GatewayConf
from ibkr_gateway_sim.history_control import history_control
from ibkr_gateway_sim.portfolio_analyst import portfolio_analyst
from ibkr_gateway_sim.state import SimulatorState

_LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Client Portal Gateway (simulator)</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">
<h1>Interactive Brokers Client Portal Gateway</h1>
<p><strong>Simulator.</strong> This stands in for IBKR's login page: no credentials are asked
for and none are sent anywhere.</p>
<button id="login">Log in (simulated, 2FA included)</button>
<p id="result" role="status"></p>
<script>
document.getElementById("login").onclick = async () => {
  const answer = await fetch("/sim/login", {method: "POST"});
  document.getElementById("result").textContent =
    answer.ok ? "Client login succeeds" : "Login failed: " + answer.status;
};
</script>
</body></html>
"""


def create_app(state: SimulatorState, certificate_pem: str | None = None,
               ips: GatewayConf | None = None) -> Flask:
    """Build the app around a simulator state (one app per running simulator)."""
    app = Flask("simulator")
    app.url_map.strict_slashes = False
    app.config["SIMULATOR_STATE"] = state
    app.config["SIMULATOR_CERTIFICATE_PEM"] = certificate_pem
    app.config["SIMULATOR_IPS"] = ips or GatewayConf()
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the gateway's field order
    app.register_blueprint(gateway)
    app.register_blueprint(portfolio_analyst)
    app.register_blueprint(flex_service)  # IBKR's Flex Web Service paths (not the gateway's)
    app.register_blueprint(flex_control)
    app.register_blueprint(history_control)
    app.register_blueprint(control)
    app.register_blueprint(session_control)
    pipeline.install(app)

    @app.get("/")
    def root() -> Any:
        # The real gateway sends the browser to its SSO login page.
        return redirect("/sso/Login?forwardTo=22&RL=1&ip2loc=on")

    @app.get("/sso/Login")
    def login_page() -> Any:
        return _LOGIN_PAGE

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith("/sim/"):
            code = (error.name or "error").lower().replace(" ", "_")
            return jsonify({"error": {"code": code, "message": error.description}}), error.code
        return gateway_error(error.name or "Error", error.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        app.logger.exception("unexpected error in %s", request.path)
        if request.path.startswith("/sim/"):
            return jsonify({"error": {"code": "internal_error", "message": str(error)}}), 500
        return gateway_error("Internal Server Error", 500)

    return app
