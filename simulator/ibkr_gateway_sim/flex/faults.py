"""Transport faults on the Flex paths (what lies between a client and IBKR, not IBKR's codes):
an HTTP error page, an HTML page with status 200, a body cut short, a slow answer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FLEX_FAULT_KINDS = ("status", "html", "truncated", "latency")
STEPS = ("SendRequest", "GetStatement")

ERROR_PAGE = ("<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
              "<body><h1>Service Unavailable</h1><p>The server is temporarily unable to "
              "service your request. Please try again later.</p></body></html>")


@dataclass
class FlexFault:
    """One fault; `remaining` None means until cleared."""

    fault_id: int
    kind: str
    step: str | None  # None: both steps
    remaining: int | None
    status: int = 503
    delay_s: float = 1.0
    released: threading.Event = field(default_factory=threading.Event, compare=False)

    def as_json(self) -> dict[str, Any]:
        """The fault as `/sim/flex/faults` lists it."""
        return {"id": self.fault_id, "kind": self.kind, "step": self.step,
                "remaining": self.remaining, "status": self.status, "delay_s": self.delay_s}


class FlexFaults:
    """The active transport faults; the caller holds the simulator's lock."""

    def __init__(self) -> None:
        self.faults: list[FlexFault] = []
        self._next_id = 0

    def add(self, body: dict[str, Any]) -> FlexFault:
        """A fault from a control body: `{kind, step?, count? (1), status? (503), delay_s?}`."""
        kind = body.get("kind")
        if kind not in FLEX_FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FLEX_FAULT_KINDS)}")
        step = body.get("step")
        if step is not None and step not in STEPS:
            raise ValueError(f"step must be one of {', '.join(STEPS)} or null")
        count = body.get("count", 1)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise ValueError("count must be a positive integer or null (until cleared)")
        status = body.get("status", 503)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP status between 400 and 599")
        delay_s = body.get("delay_s", 1.0)
        if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) \
                or not 0 <= delay_s <= 120:
            raise ValueError("delay_s must be a number of seconds between 0 and 120")
        self._next_id += 1
        fault = FlexFault(self._next_id, kind, step, count, status=status, delay_s=float(delay_s))
        self.faults.append(fault)
        return fault

    def take(self, step: str) -> FlexFault | None:
        """The first fault for this step, used up once."""
        for fault in self.faults:
            if fault.step in (None, step):
                if fault.remaining is not None:
                    fault.remaining -= 1
                self.faults = [f for f in self.faults if f.remaining is None or f.remaining > 0]
                return fault
        return None

    def clear(self) -> None:
        """Clear every fault, releasing answers a latency fault holds back."""
        for fault in self.faults:
            fault.released.set()
        self.faults.clear()
