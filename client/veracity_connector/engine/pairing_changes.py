"""What pairing, unpairing and a refused key change in the engine: key, outbox, timetable, state.

`pair` and `unpair` are the bodies of the engine's commands (run on its thread, see
`commands`); `revoke` is what Delivery calls when Veracity refuses the key; `current_key`
notices a key stored meanwhile by another process (`ibkr-connector pair`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from veracity_connector.engine.collection import SnapshotCollector
from veracity_connector.engine.keys import KeyKeeper
from veracity_connector.engine.timetable import Timetable
from veracity_connector.outbox import Outbox
from veracity_connector.pairing import pair_with_token
from veracity_connector.pairing_files import forget_pairing
from veracity_connector.state import ConnectorState, PairingOutcome, StatusHolder
from veracity_connector.veracity_api import VeracityClient

logger = logging.getLogger(__name__)


class PairingChanges:
    """Pairs, unpairs and follows the stored key, keeping the engine's parts in step."""

    def __init__(self, *, veracity: VeracityClient | None, keys: KeyKeeper, outbox: Outbox,
                 timetable: Timetable, collector: SnapshotCollector, holder: StatusHolder,
                 data_dir: Path, clock: Callable[[], float], publish: Callable[[], None],
                 wake_event: threading.Event) -> None:
        self._veracity = veracity
        self._keys = keys
        self._outbox = outbox
        self._timetable = timetable
        self._collector = collector
        self._holder = holder
        self._data_dir = data_dir
        self._clock = clock
        self._publish = publish  # derive and publish the person-facing state
        self._wake_event = wake_event

    def pair(self, token: str, discard_outbox: bool) -> PairingOutcome:
        """Exchange `token` for a key and store it; on success everything is due at once."""
        if self._veracity is None:
            return PairingOutcome(False, "not_configured",
                                  "Set Veracity's address first (Settings…), then paste the token.")
        credentials = self._keys.store()
        if credentials is None:
            return PairingOutcome(False, "credential_store", self._keys.problem)
        previous = self._holder.status
        self._holder.set_state(ConnectorState.PAIRING)
        outcome, schedule = pair_with_token(token, self._veracity, credentials, self._outbox,
                                            self._data_dir, discard_outbox=discard_outbox)
        if outcome.ok and schedule is not None:
            self._timetable.server_schedule = schedule
            self._keys.revoked_notice = False
            self._collector.forget()
            now = self._clock()
            self._timetable.next_heartbeat = self._timetable.next_snapshot = now
            self._timetable.next_key_check = self._timetable.next_delivery = now
            self._publish()
            self._wake_event.set()
        else:
            self._holder.publish(previous)
        return outcome

    def unpair(self) -> None:
        """Forget the key and drop unsent snapshots."""
        credentials = self._keys.store()
        if credentials is not None:
            credentials.delete()
        cleared = self._outbox.clear()
        forget_pairing(self._data_dir)
        logger.info("unpaired; %d unsent snapshot(s) dropped", cleared)
        self._collector.forget()
        self._publish()

    def revoke(self, refused_key: str) -> None:
        """Veracity refused `refused_key`: delete it, keep the outbox, show `revoked`."""
        logger.warning("Veracity refused the connector key (revoked or invalid); deleting it")
        self._keys.delete_refused(refused_key)
        # The outbox stays: a new pairing with the same Veracity account delivers it.
        kept = self._outbox.count()
        if kept:
            logger.warning("%d unsent snapshot(s) kept for the next pairing with the same "
                           "Veracity account", kept)
        self._keys.revoked_notice = True
        self._collector.forget()
        self._holder.set_state(ConnectorState.REVOKED, paired=False)

    def current_key(self) -> str | None:
        """The stored key now; a new one after a refusal makes snapshot and heartbeat due."""
        key = self._keys.current()
        if key is not None and self._keys.revoked_notice:
            self._keys.revoked_notice = False  # a new key arrived (paired in another process)
            now = self._clock()
            self._timetable.next_snapshot = self._timetable.next_heartbeat = now
        return key
