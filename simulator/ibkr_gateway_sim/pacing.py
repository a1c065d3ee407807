"""IBKR's pacing rules (429 past the limits, then a penalty box) and the per-endpoint counters."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

GLOBAL_LIMIT_PER_SECOND = 10

# Endpoint template → the minimum seconds between two accepted requests (IBKR's documented limits).
ENDPOINT_MIN_INTERVAL_S = {
    "/iserver/account/orders": 5.0,
    "/iserver/account/trades": 5.0,
    "/portfolio/accounts": 5.0,
    "/portfolio/subaccounts": 5.0,
    "/tickle": 1.0,
    "/sso/validate": 60.0,
    # Portfolio Analyst: 1 request per 15 minutes each.
    "/pa/performance": 900.0,
    "/pa/summary": 900.0,
    "/pa/transactions": 900.0,
}


@dataclass
class EndpointCounter:
    """What one endpoint saw: requests, refusals and the tightest spacing that was accepted."""

    count: int = 0
    refused_429: int = 0
    faulted: int = 0
    accepted: int = 0
    last_accepted_at: float | None = None
    min_interval_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The counter as `/sim/requests` reports it."""
        return {
            "count": self.count,
            "refused_429": self.refused_429,
            "faulted": self.faulted,
            "accepted": self.accepted,
            "min_interval_s": self.min_interval_s,
        }


@dataclass
class PacingDecision:
    """Whether a request passes; when it does not, why (for the 429 body and the logs)."""

    allowed: bool
    reason: str = ""


@dataclass
class Pacer:
    """Applies the limits and keeps the counters; the caller holds the simulator's lock."""

    penalty_box_s: float
    enabled: bool = True
    penalize_endpoint_limits: bool = True
    counters: dict[str, EndpointCounter] = field(default_factory=dict)
    recent_accepted: deque[float] = field(default_factory=deque)
    penalty_until: float = 0.0
    penalty_boxes: int = 0
    peak_per_second: int = 0  # most accepted requests seen within any one second

    def counter(self, endpoint: str) -> EndpointCounter:
        """The counter of an endpoint template, created on first use."""
        return self.counters.setdefault(endpoint, EndpointCounter())

    def admit(self, endpoint: str, now: float) -> PacingDecision:
        """Count a request and decide whether pacing lets it through."""
        counter = self.counter(endpoint)
        counter.count += 1
        if self.enabled:
            refusal = self._refusal(endpoint, counter, now)
            if refusal:
                counter.refused_429 += 1
                return PacingDecision(False, refusal)
        self._accept(counter, now)
        return PacingDecision(True)

    def record_fault(self, endpoint: str) -> None:
        """Count a request that a fault answered instead of the gateway."""
        counter = self.counter(endpoint)
        counter.count += 1
        counter.faulted += 1

    def in_penalty_box(self, now: float) -> bool:
        """True while every request is refused."""
        return now < self.penalty_until

    def _forget_older_than_a_second(self, now: float) -> None:
        while self.recent_accepted and now - self.recent_accepted[0] >= 1.0:
            self.recent_accepted.popleft()

    def _refusal(self, endpoint: str, counter: EndpointCounter, now: float) -> str:
        if self.in_penalty_box(now):
            return "penalty box"
        self._forget_older_than_a_second(now)
        if len(self.recent_accepted) >= GLOBAL_LIMIT_PER_SECOND:
            self._enter_penalty_box(now)
            return f"more than {GLOBAL_LIMIT_PER_SECOND} requests per second"
        min_interval = ENDPOINT_MIN_INTERVAL_S.get(endpoint)
        last = counter.last_accepted_at
        if min_interval is not None and last is not None and now - last < min_interval:
            if self.penalize_endpoint_limits:
                self._enter_penalty_box(now)
            return f"{endpoint} allows 1 request per {min_interval:g} s"
        return ""

    def _enter_penalty_box(self, now: float) -> None:
        self.penalty_until = now + self.penalty_box_s
        self.penalty_boxes += 1

    def _accept(self, counter: EndpointCounter, now: float) -> None:
        counter.accepted += 1
        if counter.last_accepted_at is not None:
            interval = now - counter.last_accepted_at
            if counter.min_interval_s is None or interval < counter.min_interval_s:
                counter.min_interval_s = round(interval, 6)
        counter.last_accepted_at = now
        self._forget_older_than_a_second(now)
        self.recent_accepted.append(now)
        self.peak_per_second = max(self.peak_per_second, len(self.recent_accepted))

    def violations(self) -> list[str]:
        """Every way the requests so far broke IBKR's limits (429s, or breaches seen while
        pacing was off); empty for a client that stayed within every limit."""
        found = []
        if self.peak_per_second > GLOBAL_LIMIT_PER_SECOND:
            found.append(f"{self.peak_per_second} requests within one second "
                         f"(limit {GLOBAL_LIMIT_PER_SECOND})")
        for endpoint, counter in sorted(self.counters.items()):
            if counter.refused_429:
                found.append(f"{endpoint}: {counter.refused_429} refused with 429")
            limit = ENDPOINT_MIN_INTERVAL_S.get(endpoint)
            if limit is not None and counter.min_interval_s is not None \
                    and counter.min_interval_s < limit:
                found.append(f"{endpoint}: two requests {counter.min_interval_s:g} s apart "
                             f"(limit 1 per {limit:g} s)")
        return found

    def report(self, now: float) -> dict[str, Any]:
        """Counters per endpoint plus totals, as `GET /sim/requests` returns them."""
        endpoints = {}
        for endpoint, counter in sorted(self.counters.items()):
            entry = counter.as_json()
            entry["limit_min_interval_s"] = ENDPOINT_MIN_INTERVAL_S.get(endpoint)
            endpoints[endpoint] = entry
        return {
            "endpoints": endpoints,
            "total": sum(counter.count for counter in self.counters.values()),
            "refused_429": sum(counter.refused_429 for counter in self.counters.values()),
            "pacing_enabled": self.enabled,
            "in_penalty_box": self.in_penalty_box(now),
            "penalty_box_remaining_s": round(max(self.penalty_until - now, 0.0), 3),
            "penalty_boxes": self.penalty_boxes,
            "peak_per_second": self.peak_per_second,
            "violations": self.violations(),
        }

    def clear(self) -> None:
        """Forget counters, the global window and any penalty box."""
        self.counters.clear()
        self.recent_accepted.clear()
        self.penalty_until = 0.0
        self.penalty_boxes = 0
        self.peak_per_second = 0
