"""What the connector is doing, as the tray, `status` and tests see it.

Three things live here and nothing else (no I/O, no UI):

* `ConnectorState` — the state machine (docs/architecture.md):
  ``needs_token → pairing → gateway_unreachable | gateway_unauthenticated | gateway_waiting |
  syncing``, plus
  ``revoked`` (the key was refused; the engine deletes it and goes back to ``needs_token``),
  ``veracity_unreachable`` and ``error`` (something the person must fix, e.g. bad settings).
* `ConnectorStatus` — an immutable picture of the connector at one moment: the state, a one-line
  message for a person, the next step for them, sync times, the gateway's session state, the
  Veracity URL and whether a key is stored. `GatewayState` is the gateway's own session state as
  sent in the heartbeat (``ok | unauthenticated | competing | unreachable | error``).
* `StatusHolder` — the observable the engine updates and the UI subscribes to. Thread-safe:
  callbacks run on the thread that published the change, outside the holder's lock, each one
  guarded so a failing observer never breaks the engine.

The engine's command interface (`ConnectorCommands`), which the tray calls from its own thread:

================  ==========================================================================
``status``        the current `ConnectorStatus` (never blocks).
``subscribe(cb)`` call ``cb(status)`` on every change; returns a function that unsubscribes.
``sync_now()``    wake the engine to take and send a snapshot now (returns at once).
``pair(token)``   exchange a one-time ``vct_`` token for a key and store it; blocks for the
                  network call and returns a `PairingOutcome` (ok or a message for a person).
``unpair()``      delete the stored key and go to ``needs_token`` (the server keeps the
                  connector until the person revokes it on the Profile page).
``stop()``        ask every engine loop to finish; returns once they have (bounded wait).
================  ==========================================================================
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class ConnectorState(StrEnum):
    """Where the connector is in its life cycle (docs/architecture.md, "The connector's states")."""

    NEEDS_TOKEN = "needs_token"  # noqa: S105 (a state name, not a secret)
    PAIRING = "pairing"
    GATEWAY_UNREACHABLE = "gateway_unreachable"
    GATEWAY_UNAUTHENTICATED = "gateway_unauthenticated"
    # Not usable now, back without the person: a competing session elsewhere, the brokerage
    # session being reopened, IBKR's nightly reset (engine/guardian.py).
    GATEWAY_WAITING = "gateway_waiting"
    SYNCING = "syncing"
    REVOKED = "revoked"
    VERACITY_UNREACHABLE = "veracity_unreachable"
    ERROR = "error"


class GatewayState(StrEnum):
    """The IBKR gateway session as reported in the heartbeat (HTTP contract v1).

    The values are exactly `veracity_contract.pairing.GatewayState` (tests/client/test_state.py
    checks it); the enum gives the connector's code names to compare against.
    """

    OK = "ok"
    UNAUTHENTICATED = "unauthenticated"
    COMPETING = "competing"
    UNREACHABLE = "unreachable"
    ERROR = "error"


# One line for a person and the step that gets them further, per state. The engine may give a
# more specific message (e.g. the gateway's own words), but the next step stays the same.
DEFAULT_MESSAGES: dict[ConnectorState, tuple[str, str]] = {
    ConnectorState.NEEDS_TOKEN: (
        "Not paired with Veracity yet.",
        "Generate a one-time token in Veracity (Profile → IBKR Integration) and paste it here.",
    ),
    ConnectorState.PAIRING: (
        "Pairing with Veracity…",
        "Wait a moment.",
    ),
    ConnectorState.GATEWAY_UNREACHABLE: (
        "The IBKR gateway is not running or not reachable.",
        "Start the IBKR Client Portal Gateway and check that its port matches the settings.",
    ),
    ConnectorState.GATEWAY_UNAUTHENTICATED: (
        "The IBKR gateway is running but not logged in.",
        "Open the gateway's address (e.g. https://localhost:5000) in a browser and log in.",
    ),
    ConnectorState.GATEWAY_WAITING: (
        "Waiting for IBKR: the session comes back by itself.",
        "Nothing to do: syncing resumes by itself.",
    ),
    ConnectorState.SYNCING: (
        "Syncing your IBKR portfolio to Veracity.",
        "Nothing to do: leave the connector running.",
    ),
    ConnectorState.REVOKED: (
        "Veracity no longer accepts this connector's key (revoked or invalid).",
        "Generate a new one-time token in Veracity (Profile → IBKR Integration) and paste it.",
    ),
    ConnectorState.VERACITY_UNREACHABLE: (
        "Veracity cannot be reached; snapshots are kept and sent when it is back.",
        "Check your internet connection; nothing is lost meanwhile.",
    ),
    ConnectorState.ERROR: (
        "The connector hit a problem it cannot fix by itself.",
        "Open the logs folder or run `ibkr-connector doctor` for details.",
    ),
}


@dataclass(frozen=True)
class ConnectorStatus:
    """An immutable picture of the connector at one moment."""

    state: ConnectorState = ConnectorState.NEEDS_TOKEN
    message: str = DEFAULT_MESSAGES[ConnectorState.NEEDS_TOKEN][0]
    next_step: str = DEFAULT_MESSAGES[ConnectorState.NEEDS_TOKEN][1]
    last_sync_at: datetime | None = None  # last time Veracity accepted something from us
    last_snapshot_at: datetime | None = None  # taken_at of the last snapshot Veracity stored
    gateway_state: GatewayState | None = None  # None until the gateway was asked once
    gateway_message: str = ""
    gateway_port: int | None = None
    veracity_url: str = ""
    paired: bool = False
    pending_snapshots: int = 0  # snapshots waiting in the outbox
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def with_state(self, state: ConnectorState, message: str | None = None,
                   next_step: str | None = None, **changes: Any) -> ConnectorStatus:
        """A copy in `state`, with the state's default message/next step unless given."""
        default_message, default_step = DEFAULT_MESSAGES[state]
        return dataclasses.replace(self, state=state, message=message or default_message,
                                   next_step=next_step or default_step, **changes)

    def replace(self, **changes: Any) -> ConnectorStatus:
        """A copy with some fields changed (state unchanged)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for `ibkr-connector status --json` and logs)."""
        result: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            if item.name == "extra":
                continue
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, StrEnum):
                value = value.value
            result[item.name] = value
        return result


StatusCallback = Callable[[ConnectorStatus], None]


class StatusHolder:
    """Holds the current `ConnectorStatus` and tells subscribers about every change."""

    def __init__(self, initial: ConnectorStatus | None = None, *,
                 log_changes: bool = True) -> None:
        self._lock = threading.Lock()
        self._log_changes = log_changes  # off for relays of an engine that logs its own
        self._status = initial or ConnectorStatus()
        self._subscribers: list[StatusCallback] = []
        self._changed = threading.Condition(self._lock)

    @property
    def status(self) -> ConnectorStatus:
        """The current status."""
        with self._lock:
            return self._status

    def subscribe(self, callback: StatusCallback) -> Callable[[], None]:
        """Call `callback(status)` on every change; returns the function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, status: ConnectorStatus) -> None:
        """Make `status` current and notify subscribers if anything changed."""
        with self._lock:
            if status == self._status:
                return
            previous, self._status = self._status, status
            subscribers = list(self._subscribers)
            self._changed.notify_all()
        if self._log_changes and previous.state != status.state:
            logger.info("connector state: %s → %s", previous.state, status.state)
        # Outside the lock: a subscriber may read `status` or even publish without deadlocking.
        for callback in subscribers:
            try:
                callback(status)
            except Exception:
                logger.exception("a status subscriber failed; the engine carries on")

    def update(self, **changes: Any) -> ConnectorStatus:
        """Change some fields of the current status atomically and publish it."""
        with self._lock:
            status = dataclasses.replace(self._status, **changes)
        self.publish(status)
        return status

    def set_state(self, state: ConnectorState, message: str | None = None,
                  next_step: str | None = None, **changes: Any) -> ConnectorStatus:
        """Move to `state` (with its default message/next step unless given) and publish."""
        with self._lock:
            status = self._status.with_state(state, message, next_step, **changes)
        self.publish(status)
        return status

    def wait_for(self, predicate: Callable[[ConnectorStatus], bool],
                 timeout_s: float) -> ConnectorStatus | None:
        """Block until `predicate(status)` holds (returns it) or the timeout passes (None)."""
        with self._changed:
            if self._changed.wait_for(lambda: predicate(self._status), timeout=timeout_s):
                return self._status
            return None


@dataclass(frozen=True)
class PairingOutcome:
    """What `pair(token)` achieved: ok, or a reason code and a message for a person."""

    ok: bool
    code: str = ""  # "" when ok; else token_invalid, token_expired, token_used, rate_limited,
    # malformed_token, network, server_error, other_account (unsent snapshots belong to another
    # Veracity account: pair again with discard_outbox=True to drop them)
    message: str = ""


class ConnectorCommands(Protocol):
    """The engine's command interface, as used by the tray and the CLI."""

    @property
    def status(self) -> ConnectorStatus:
        """The current status."""
        ...

    def subscribe(self, callback: StatusCallback) -> Callable[[], None]:
        """Call `callback(status)` on every change; returns the unsubscribe function."""
        ...

    def sync_now(self) -> None:
        """Ask for a snapshot now (returns at once)."""
        ...

    def pair(self, token: str, *, discard_outbox: bool = False) -> PairingOutcome:
        """Exchange a one-time token for a key and store it (see Engine.pair)."""
        ...

    def unpair(self) -> None:
        """Forget the stored key and go to needs_token."""
        ...

    def stop(self) -> None:
        """Stop every engine loop and return once they have."""
        ...
