"""The tray's handle on the engine: replaceable when settings change, observed as one.

The engine reads its settings once, when it is built; so after "Settings…" or a gateway port
move the tray builds a new engine and stops the old one. Subscribers of the slot follow
whichever engine is current and never notice the swap except through the status itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from veracity_connector.state import (
    ConnectorState,
    ConnectorStatus,
    PairingOutcome,
    StatusCallback,
    StatusHolder,
)

logger = logging.getLogger(__name__)


class RunnableEngine(Protocol):
    """What the slot needs of `veracity_connector.engine.Engine` (its commands plus start)."""

    @property
    def status(self) -> ConnectorStatus: ...
    def subscribe(self, callback: StatusCallback) -> Callable[[], None]: ...
    def sync_now(self) -> None: ...
    def pair(self, token: str, *, discard_outbox: bool = False) -> PairingOutcome: ...
    def unpair(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


class EngineSlot:
    """Holds the current engine (or why there is none) and relays its status."""

    def __init__(self, make_engine: Callable[[], RunnableEngine]) -> None:
        self._make_engine = make_engine
        self._lock = threading.RLock()
        self._engine: RunnableEngine | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # Passes the current engine's statuses on, quietly: the engine logs its own changes.
        self._relay = StatusHolder(log_changes=False)

    @property
    def engine(self) -> RunnableEngine | None:
        """The running engine (None when settings kept it from starting)."""
        with self._lock:
            return self._engine

    @property
    def status(self) -> ConnectorStatus:
        """The current engine's status."""
        return self._relay.status

    def subscribe(self, callback: StatusCallback) -> Callable[[], None]:
        """Follow the status across engine swaps."""
        return self._relay.subscribe(callback)

    def start(self) -> None:
        """Build and start the engine (again, after a change of settings)."""
        with self._lock:
            old, self._engine = self._engine, None
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
        if old is not None:
            old.stop()
        with self._lock:
            try:
                engine = self._make_engine()
            except Exception as error:  # bad settings: show them instead of crashing
                logger.exception("the connector engine cannot start")
                self._relay.publish(self._relay.status.with_state(
                    ConnectorState.ERROR, f"The connector cannot start: {error}",
                    "Fix it in Settings… (or the settings file), then try again."))
                return
            self._engine = engine
            self._unsubscribe = engine.subscribe(self._relay.publish)
            self._relay.publish(engine.status)
            engine.start()

    restart = start

    def sync_now(self) -> None:
        """Ask the engine for a snapshot now."""
        engine = self.engine
        if engine is not None:
            engine.sync_now()

    def pair(self, token: str, *, discard_outbox: bool = False) -> PairingOutcome:
        """Pair through the current engine."""
        engine = self.engine
        if engine is None:
            return PairingOutcome(False, "not_running", self.status.message)
        return engine.pair(token, discard_outbox=discard_outbox)

    def stop(self) -> None:
        """Stop the engine for good."""
        with self._lock:
            engine, self._engine = self._engine, None
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
        if engine is not None:
            engine.stop()
