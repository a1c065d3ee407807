"""Settings of one simulator run (command line, fixtures and `/sim/config` all set these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_IDLE_TIMEOUT_S = 360.0  # the real gateway drops a session after ~6 minutes without requests
DEFAULT_PENALTY_BOX_S = 600.0  # IBKR: 10 minutes (webapi-doc) or 15 (cpapi-v1)


@dataclass
class SimulatorOptions:
    """Behaviour switches; the defaults reproduce the real gateway."""

    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    penalty_box_s: float = DEFAULT_PENALTY_BOX_S
    pacing_enabled: bool = True
    # A per-endpoint violation (e.g. two /portfolio/accounts within 5 s) also starts the penalty
    # box, as IBKR documents for any rate-limit violation.
    penalize_endpoint_limits: bool = True
    # The first /iserver/account/orders call of a session answers an empty "pre-flight" list.
    preflight_empty_orders: bool = True
    # Without a session /tickle answers 401 like every other endpoint; some gateways answer
    # 200 {"error": "no session"} instead (ibeam handles both): this switch picks the latter.
    tickle_no_session_200: bool = False
    positions_cache_s: float = 5.0  # how long the paged positions endpoint serves a cached list
    price_tick_interval_s: float | None = None  # None: prices move only when told to
    seed: int = 7
    scenario: str = "demo"
    logged_in_at_start: bool = False
    # Session scenarios (session_events.py). None keeps the old rules: an idle timeout ends the
    # whole session, which lives for ever otherwise. With sso_sleep_timeout_s set, an idle
    # timeout ends only the brokerage session (the gateway's own /sso/ping keeps the SSO one)
    # and a `sleep` longer than it ends the SSO session; session_max_life_s ends any session
    # that long after its login (IBKR: about 24 h).
    sso_sleep_timeout_s: float | None = None
    session_max_life_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The options as `/sim/config` shows them."""
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update from the control API; ValueError names a bad field."""
        known = {field.name: field for field in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(known))}")
            setattr(self, name, _checked(name, value, getattr(self, name)))


_OPTIONAL_NUMBERS = {"price_tick_interval_s", "sso_sleep_timeout_s", "session_max_life_s"}


def _checked(name: str, value: Any, current: Any) -> Any:
    if name in _OPTIONAL_NUMBERS and value is None:
        return None
    if isinstance(current, bool) or name in {"pacing_enabled", "penalize_endpoint_limits",
                                             "preflight_empty_orders", "tickle_no_session_200",
                                             "logged_in_at_start"}:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name in {"seed"}:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer")
        return value
    if name == "scenario":
        if not isinstance(value, str):
            raise ValueError("scenario must be a string")
        return value
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number of seconds, 0 or more")
    if name == "price_tick_interval_s" and value == 0:
        raise ValueError("price_tick_interval_s must be more than 0, or null to stop ticking")
    return float(value)
