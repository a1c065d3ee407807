"""`SimulatorControl`: drive a running simulator (in this process or another) over `/sim/`."""

from __future__ import annotations

from typing import Any

import requests


class SimulatorControlError(RuntimeError):
    """A control call was refused; carries the HTTP status and the simulator's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"simulator control call failed ({status}): {message}")
        self.status = status


class SimulatorControl:
    """Thin client of the control API; every method is one HTTP call and returns its JSON."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0,
                 verify: bool | str = False) -> None:
        # The simulator's certificate is self-signed and made at start: like every gateway
        # client, control calls skip verification unless given the PEM file to check against.
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.verify = verify
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        # verify goes with each call: a Session-level verify=False loses to REQUESTS_CA_BUNDLE.
        response = self.http.request(method, f"{self.base_url}/sim{path}", json=body,
                                     timeout=self.timeout_s, verify=self.verify)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise SimulatorControlError(response.status_code, message)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response.text

    # session
    def login(self, brokerage: bool = True) -> dict[str, Any]:
        """Log in as the browser would (brokerage=False: read-only session only)."""
        return self._call("POST", "/login", {"brokerage": brokerage})

    def logout(self) -> dict[str, Any]:
        """End the session."""
        return self._call("POST", "/logout")

    def expire_session(self) -> dict[str, Any]:
        """Drop the session as the idle timeout would."""
        return self._call("POST", "/session/expire")

    def make_competing(self) -> dict[str, Any]:
        """Another login elsewhere takes the brokerage session."""
        return self._call("POST", "/session/competing")

    def set_connected(self, connected: bool) -> dict[str, Any]:
        """Cut or restore the gateway's link to IBKR."""
        return self._call("POST", "/session/connected", {"connected": connected})

    def session_event(self, event: str, **params: Any) -> dict[str, Any]:
        """Apply a session event now (see session_events.py), e.g. `("competing_start")`."""
        return self._call("POST", "/session/event", {"event": event, **params})

    def schedule(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Schedule events `[{at_s, event, ...}]` on the simulator's clock (at_s from now)."""
        return self._call("POST", "/timeline", {"events": events})

    def timeline(self) -> dict[str, Any]:
        """`{now, pending, applied}`."""
        return self._call("GET", "/timeline")

    def clear_timeline(self) -> dict[str, Any]:
        """Forget every scheduled event."""
        return self._call("DELETE", "/timeline")

    def session(self) -> dict[str, Any]:
        """The session's flags and remaining idle time."""
        return self._call("GET", "/session")

    # book
    def state(self) -> dict[str, Any]:
        """`{accounts: [{account_id, base_currency, net_liquidation, positions, orders}]}`."""
        return self._call("GET", "/state")

    def set_accounts(self, accounts: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace every account (see docs/simulator.md for the fields)."""
        return self._call("PUT", "/accounts", {"accounts": accounts})

    def set_positions(self, account_id: str, positions: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace one account's positions."""
        return self._call("PUT", f"/accounts/{account_id}/positions", {"positions": positions})

    def set_orders(self, account_id: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace one account's orders."""
        return self._call("PUT", f"/accounts/{account_id}/orders", {"orders": orders})

    def add_order(self, account_id: str, order: dict[str, Any]) -> dict[str, Any]:
        """Add one order; returns it in the gateway's shape."""
        return self._call("POST", f"/accounts/{account_id}/orders", order)

    def update_order(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change an order's `status` and/or `filled_quantity`."""
        return self._call("POST", f"/orders/{order_id}", changes)

    def set_prices(self, prices: dict[int, float]) -> dict[str, Any]:
        """Set prices by conid."""
        return self._call("PUT", "/prices", {"prices": {str(k): v for k, v in prices.items()}})

    def tick_prices(self, steps: int = 1) -> dict[str, Any]:
        """Move every price by `steps` random-walk steps."""
        return self._call("POST", "/prices/tick", {"steps": steps})

    # behaviour
    def config(self) -> dict[str, Any]:
        """The current options."""
        return self._call("GET", "/config")

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change options, e.g. `configure(idle_timeout_s=2, penalty_box_s=1)`."""
        return self._call("POST", "/config", options)

    def set_pacing(self, enabled: bool | None = None,
                   clear_penalty: bool = False) -> dict[str, Any]:
        """Turn pacing on/off and/or leave the penalty box now."""
        body: dict[str, Any] = {"clear_penalty": clear_penalty}
        if enabled is not None:
            body["enabled"] = enabled
        return self._call("POST", "/pacing", body)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move a manual clock forward (simulators started with one only)."""
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def add_fault(self, kind: str, endpoint: str | None = None, count: int | None = None,
                  **details: Any) -> dict[str, Any]:
        """Inject a fault (`latency`, `status`, `reset`, `slow_body`); returns it with its id."""
        return self._call("POST", "/faults", {"kind": kind, "endpoint": endpoint,
                                              "count": count, **details})

    def faults(self) -> list[dict[str, Any]]:
        """The active faults."""
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        """Clear every fault."""
        self._call("DELETE", "/faults")

    def requests(self) -> dict[str, Any]:
        """Counters per endpoint (count, refused_429, faulted, accepted, min_interval_s)."""
        return self._call("GET", "/requests")

    def endpoint(self, template: str) -> dict[str, Any]:
        """One endpoint's counters (zeros when it was never called)."""
        empty = {"count": 0, "refused_429": 0, "faulted": 0, "accepted": 0,
                 "min_interval_s": None}
        return self.requests()["endpoints"].get(template, empty)

    def pacing_violations(self) -> list[str]:
        """How the requests so far broke IBKR's limits; `[]` when the client paced itself."""
        return self.requests()["violations"]

    def reset(self, scenario: str | None = None, seed: int | None = None) -> dict[str, Any]:
        """Fresh start (logged out, counters and faults cleared)."""
        body: dict[str, Any] = {}
        if scenario is not None:
            body["scenario"] = scenario
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", "/reset", body)

    def certificate_pem(self) -> str:
        """The simulator's self-signed certificate."""
        return self._call("GET", "/certificate")

    # Past days (see docs/simulator.md, "History")
    def history(self, account_id: str, start: str | None = None,
                end: str | None = None) -> list[dict[str, Any]]:
        """The daily closes of an account (`yyyymmdd` bounds; default the last 30 days)."""
        query = f"?account_id={account_id}"
        query += f"&from={start}" if start else ""
        query += f"&to={end}" if end else ""
        return self._call("GET", f"/history{query}")["days"]

    def correct_history(self, account_id: str, date: str, nav: float | None = None,
                        quantities: dict[int, float] | None = None) -> dict[str, Any]:
        """Make a past day's close differ from what the gateway showed that day."""
        body: dict[str, Any] = {"account_id": account_id, "date": date, "nav": nav}
        if quantities:
            body["quantities"] = {str(conid): value for conid, value in quantities.items()}
        return self._call("POST", "/history/corrections", body)

    def clear_history_corrections(self) -> None:
        """Every past day back to what the gateway showed."""
        self._call("DELETE", "/history/corrections")

    # Flex Web Service (see docs/simulator.md, "Flex Web Service")
    def flex(self) -> dict[str, Any]:
        """Flex settings, tokens, queries and the demo token/query ids."""
        return self._call("GET", "/flex")

    def flex_configure(self, **settings: Any) -> dict[str, Any]:
        """E.g. `flex_configure(generation_delay_s=30, generation_polls=2)`."""
        return self._call("POST", "/flex/config", settings)

    def flex_create_token(self, **fields: Any) -> dict[str, Any]:
        """A new Flex token: `token?, expires_in_s?, ip?, active?`."""
        return self._call("POST", "/flex/tokens", fields)

    def flex_change_token(self, token: str, **fields: Any) -> dict[str, Any]:
        """Change a token's `expires_in_s`, `ip` or `active`."""
        return self._call("POST", f"/flex/tokens/{token}", fields)

    def flex_create_query(self, **fields: Any) -> dict[str, Any]:
        """Save a Flex query (period, sections, accounts, output, positions, quirks...)."""
        return self._call("POST", "/flex/queries", fields)

    def flex_inject_error(self, code: int, step: str | None = None,
                          count: int | None = 1) -> dict[str, Any]:
        """Answer `code` to the next `count` calls of `step` (SendRequest/GetStatement)."""
        return self._call("POST", "/flex/errors", {"code": code, "step": step, "count": count})

    def flex_add_fault(self, kind: str, step: str | None = None, count: int | None = 1,
                       **details: Any) -> dict[str, Any]:
        """A transport fault on the Flex paths: `status`, `html`, `truncated`, `latency`."""
        return self._call("POST", "/flex/faults",
                          {"kind": kind, "step": step, "count": count, **details})

    def flex_clear_faults(self) -> None:
        """Clear every Flex transport fault."""
        self._call("DELETE", "/flex/faults")

    def flex_requests(self) -> dict[str, Any]:
        """Flex calls per step and per token (count, refused_1018, min_interval_s)."""
        return self._call("GET", "/flex/requests")

    def flex_reset(self) -> dict[str, Any]:
        """Flex back to the demo token and queries, default settings, no counters."""
        return self._call("POST", "/flex/reset")

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()
