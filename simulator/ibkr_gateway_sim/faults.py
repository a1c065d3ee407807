"""Faults injected through `/sim/faults`: latency, 5xx answers, dropped connections, slow bodies."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("latency", "status", "reset", "slow_body")


@dataclass
class Fault:
    """One injected fault; `remaining` None means until cleared."""

    fault_id: int
    kind: str
    endpoint: str | None  # endpoint template or concrete path (after /v1/api); None = all
    remaining: int | None
    delay_s: float = 0.0  # latency: before answering; slow_body: between chunks
    status: int = 503
    chunk_size: int = 16
    # Set when the fault is cleared: requests it is delaying go on at once.
    released: threading.Event = field(default_factory=threading.Event, compare=False)

    def pause(self) -> None:
        """Wait `delay_s`, or less if the fault is cleared meanwhile."""
        self.released.wait(self.delay_s)

    def matches(self, template: str, path: str) -> bool:
        """True when this fault applies to a request for `path` routed to `template`."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.endpoint is None or self.endpoint in (template, path)

    def as_json(self) -> dict[str, Any]:
        """The fault as `/sim/faults` lists it."""
        return {"id": self.fault_id, "kind": self.kind, "endpoint": self.endpoint,
                "remaining": self.remaining, "delay_s": self.delay_s, "status": self.status,
                "chunk_size": self.chunk_size}


def parse_fault(body: dict[str, Any], fault_id: int) -> Fault:
    """Build a fault from a control-API body; ValueError names what is wrong."""
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    endpoint = body.get("endpoint")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith("/")):
        raise ValueError("endpoint must be a path starting with '/' (after /v1/api) or null")
    if endpoint and endpoint.startswith("/v1/api/"):
        endpoint = endpoint[len("/v1/api"):]
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError("count must be a positive integer or null (until cleared)")
    delay_s = body.get("delay_s", 1.0 if kind in ("latency", "slow_body") else 0.0)
    if not isinstance(delay_s, int | float) or isinstance(delay_s, bool) or not 0 <= delay_s <= 120:
        raise ValueError("delay_s must be a number of seconds between 0 and 120")
    status = body.get("status", 503)
    if not isinstance(status, int) or isinstance(status, bool) or not 500 <= status <= 599:
        raise ValueError("status must be an HTTP status between 500 and 599")
    chunk_size = body.get("chunk_size", 16)
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError("chunk_size must be a positive integer")
    return Fault(fault_id=fault_id, kind=kind, endpoint=endpoint, remaining=count,
                 delay_s=float(delay_s), status=status, chunk_size=chunk_size)


class FaultBoard:
    """The active faults; the caller holds the simulator's lock."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.spent: list[Fault] = []  # used up, but may still be delaying a request
        self._ids = itertools.count(1)

    def add(self, body: dict[str, Any]) -> Fault:
        """Add a fault described by a control-API body."""
        fault = parse_fault(body, next(self._ids))
        self.faults.append(fault)
        return fault

    def take(self, template: str, path: str) -> list[Fault]:
        """The faults that apply to this request, each used up once."""
        taken = []
        for fault in self.faults:
            if fault.matches(template, path):
                if fault.remaining is not None:
                    fault.remaining -= 1
                taken.append(fault)
        self.spent += [f for f in self.faults if f.remaining is not None and f.remaining <= 0]
        self.faults = [f for f in self.faults if f.remaining is None or f.remaining > 0]
        return taken

    def remove(self, fault_id: int) -> bool:
        """Clear one fault (releasing requests it delays); False when there was none."""
        removed = [fault for fault in self.faults + self.spent if fault.fault_id == fault_id]
        for fault in removed:
            fault.released.set()
        self.faults = [fault for fault in self.faults if fault.fault_id != fault_id]
        self.spent = [fault for fault in self.spent if fault.fault_id != fault_id]
        return bool(removed)

    def clear(self) -> None:
        """Clear every fault, releasing the requests they delay."""
        for fault in self.faults + self.spent:
            fault.released.set()
        self.faults.clear()
        self.spent.clear()
