"""The sync engine: the DESIGN.md state machine, with no UI.

One worker loop does everything that is due, one `step()` at a time, then waits until the
next thing is due (or a command wakes it, or `stop()`): tests drive `step()` / `run_once()`
directly instead of sleeping. What is due:

* tickle (`tickle_interval_s`, default 60 s): keeps the gateway session alive and tells us its
  state (ok, unauthenticated, competing, unreachable, error);
* snapshot (server's `snapshot_interval_s`, default 120 s): read every account; if nothing
  changed since the last queued snapshot, nothing is queued (the heartbeat says we are alive),
  except that a full snapshot is queued at least every `full_snapshot_interval_s`;
* delivery: the outbox is sent oldest first; on failure it waits (backoff) and keeps growing,
  bounded, while snapshots continue on schedule;
* heartbeat (server's `heartbeat_interval_s`, default 60 s) with the gateway's state.

A refused key (401) is deleted, the outbox cleared, the state goes `revoked` then
`needs_token`, and nothing is sent until a new key appears (a pairing in this process, or
`ibkr-connector pair` in another one: the store is re-read while waiting).
The commands (`ConnectorCommands` in client/veracity_connector/state.py) are thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from veracity_connector.credentials import CredentialError, CredentialStore, open_credential_store
from veracity_connector.gateway import GatewayClient, Pacer, SessionCheck
from veracity_connector.gateway.errors import GatewayError
from veracity_connector.gateway.pacing import PacerStopped
from veracity_connector.outbox import Outbox, OutboxLimits
from veracity_connector.pairing import pair_with_token
from veracity_connector.settings import Folders, Settings
from veracity_connector.snapshot import Snapshot, take_snapshot
from veracity_connector.state import (
    DEFAULT_MESSAGES,
    ConnectorState,
    ConnectorStatus,
    GatewayState,
    PairingOutcome,
    StatusCallback,
    StatusHolder,
)
from veracity_connector.status_file import StatusFile
from veracity_connector.veracity_api import (
    KeyRevoked,
    RequestRejected,
    Schedule,
    VeracityClient,
    VeracityError,
    VeracityRateLimited,
    VeracityUnavailable,
    json_dumps,
)
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)

KEY_POLL_INTERVAL_S = 2.0  # while unpaired: how often to look for a key stored by another process
MAX_IDLE_S = 15.0  # the loop wakes at least this often (status file freshness)
DELIVERY_BACKOFF_INITIAL_S = 5.0
OUTBOX_BATCH = 50
UNEXPECTED_ERROR_RETRY_S = 15.0  # the loop never waits longer than MAX_IDLE_S anyway
UNEXPECTED_ERROR_TEXT = (
    "The connector hit an unexpected error and keeps trying.",
    "If it persists, open the logs folder or run `ibkr-connector doctor`.")


class SyncOutcome(StrEnum):
    """What one full cycle (`run_once`, `ibkr-connector sync --once`) achieved."""

    DELIVERED = "delivered"
    UNCHANGED = "unchanged"
    NOT_PAIRED = "not_paired"
    GATEWAY_UNREACHABLE = "gateway_unreachable"
    GATEWAY_UNAUTHENTICATED = "gateway_unauthenticated"
    GATEWAY_ERROR = "gateway_error"
    VERACITY_UNREACHABLE = "veracity_unreachable"
    KEY_REVOKED = "key_revoked"
    CONFIGURATION = "configuration"


@dataclass
class EngineCounters:
    """What the engine has done since it started (for benchmarks, tests and logs)."""

    snapshots_taken: int = 0
    snapshots_queued: int = 0
    snapshots_delivered: int = 0
    heartbeats_sent: int = 0
    last_snapshot_read_s: float = 0.0


@dataclass(frozen=True)
class CycleResult:
    """The outcome of `run_once` and a message for a person."""

    outcome: SyncOutcome
    message: str


class Engine:
    """Keeps Veracity in sync with the gateway; observable through `status`/`subscribe`."""

    def __init__(self, settings: Settings, folders: Folders, *,
                 credentials: CredentialStore | None = None,
                 clock: Callable[[], float] = time.time,
                 write_status_file: bool = True) -> None:
        self.settings = settings
        self.folders = folders
        self._clock = clock
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = clock()
        self._sync_requested = False
        self.counters = EngineCounters()
        self.pacer = Pacer(state_path=folders.data_dir / "pacing.json",
                           backoff_initial_s=settings.rate_limit_backoff_s,
                           stop_event=self._stop_event)
        self.gateway = GatewayClient(settings.gateway_address(), self.pacer,
                                     timeout_s=settings.gateway_timeout_s)
        self.outbox = Outbox(folders.data_dir / "outbox.sqlite3", OutboxLimits(
            settings.outbox_max_count, settings.outbox_max_bytes, settings.outbox_max_age_s))
        self.veracity: VeracityClient | None = None
        if settings.veracity_url:
            # Few quick retries: the outbox and the schedule are the long-term retry.
            self.veracity = VeracityClient(settings.veracity_url,
                                           timeout_s=settings.veracity_timeout_s,
                                           retries=2, backoff_s=0.5,
                                           stop_event=self._stop_event)
        self._credentials = credentials
        self._credential_problem = ""
        self._schedule = Schedule()
        self._session: SessionCheck | None = None
        self._veracity_down_message = ""
        self._revoked_notice = False
        self._unexpected_error = False  # the last step raised; cleared when one completes
        self._last_fingerprint: str | None = None
        self._last_full_queued_at = float("-inf")
        self._last_snapshot_at: datetime | None = None
        self._last_sync_at: datetime | None = None
        self._delivery_backoff_s = DELIVERY_BACKOFF_INITIAL_S
        now = clock()
        self._next_tickle = now
        self._next_snapshot = now
        self._next_heartbeat = now
        self._next_delivery = now
        self._next_key_check = now
        self._last_snapshot_started = float("-inf")
        self.holder = StatusHolder(ConnectorStatus(
            veracity_url=settings.veracity_url, gateway_port=self.gateway.port))
        self._status_file = StatusFile(folders.data_dir) if write_status_file else None
        if self._status_file is not None:
            self.holder.subscribe(self._status_file.write)
            self._status_file.write(self.holder.status)

    # --- commands (ConnectorCommands) ------------------------------------------------------

    @property
    def status(self) -> ConnectorStatus:
        """The current status."""
        return self.holder.status

    def subscribe(self, callback: StatusCallback) -> Callable[[], None]:
        """Call `callback(status)` on every change; returns the unsubscribe function."""
        return self.holder.subscribe(callback)

    def sync_now(self) -> None:
        """Take and send a snapshot at the next step (returns at once)."""
        self._sync_requested = True
        self._wake_event.set()

    def pair(self, token: str) -> PairingOutcome:
        """Exchange a one-time token for a key and store it (blocks for the network call)."""
        if self.veracity is None:
            return PairingOutcome(False, "not_configured",
                                  "Set Veracity's address first (Settings…), then paste the token.")
        credentials = self._credential_store()
        if credentials is None:
            return PairingOutcome(False, "credential_store", self._credential_problem)
        previous = self.holder.status
        self.holder.set_state(ConnectorState.PAIRING)
        outcome, schedule = pair_with_token(token, self.veracity, credentials, self.outbox)
        if outcome.ok and schedule is not None:
            self._schedule = schedule
            self._revoked_notice = False
            self._last_fingerprint = None
            now = self._clock()
            self._next_heartbeat = self._next_snapshot = self._next_key_check = now
            self._publish()
            self._wake_event.set()
        else:
            self.holder.publish(previous)
        return outcome

    def unpair(self) -> None:
        """Forget the key and drop unsent snapshots; the state becomes needs_token."""
        credentials = self._credential_store()
        if credentials is not None:
            credentials.delete()
        cleared = self.outbox.clear()
        logger.info("unpaired; %d unsent snapshot(s) dropped", cleared)
        self._last_fingerprint = None
        self._publish()

    def start(self) -> None:
        """Run the loop in a background thread (for the tray)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self.run, name="connector-engine",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the loop to finish and wait for it (bounded)."""
        self._stop_event.set()
        self._wake_event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    @property
    def stopping(self) -> bool:
        """True once stop() was called."""
        return self._stop_event.is_set()

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Do what is due, wait for the next thing, until stop()."""
        logger.info("connector %s started (gateway %s, Veracity %s)", connector_version(),
                    self.gateway.transport.address.base_url, self.settings.veracity_url or "-")
        try:
            # Inside the try: a broken outbox or key store here must still mark the engine
            # stopped and close the clients on the way out.
            self._publish()  # paired or not, before the first (possibly long) step
            while not self._stop_event.is_set():
                try:
                    delay = self.step()
                except Exception:
                    # A bug or a broken disk must not end the loop: say so and keep trying.
                    delay = UNEXPECTED_ERROR_RETRY_S
                    logger.exception("unexpected error in the sync loop; trying again in %.0f s",
                                     min(delay, MAX_IDLE_S))
                    # The flag keeps _publish (called mid-step by later attempts) from showing
                    # "syncing" between two failures, which would notify the person each time.
                    self._unexpected_error = True
                    self.holder.set_state(ConnectorState.ERROR, *UNEXPECTED_ERROR_TEXT)
                self._wake_event.wait(max(0.0, min(delay, MAX_IDLE_S)))
                self._wake_event.clear()
        finally:
            if self._status_file is not None:
                self._status_file.mark_stopped(self.holder.status)
            self.gateway.close()
            if self.veracity is not None:
                self.veracity.close()
            logger.info("connector stopped")

    def step(self) -> float:
        """Do everything that is due now; returns the seconds until something is due again."""
        with contextlib.suppress(PacerStopped):
            self._step()
        self._unexpected_error = False  # a step completed: whatever failed before works again
        self._publish()
        return self.seconds_until_due()

    def seconds_until_due(self) -> float:
        """Seconds until the next scheduled work."""
        now = self._clock()
        due = [self._next_tickle]
        if self._current_key() is None:
            due.append(self._next_key_check)
        else:
            due += [self._next_snapshot, self._next_heartbeat]
            if self.outbox.count():
                due.append(self._next_delivery)
        if self._sync_requested:
            return 0.0
        return max(0.0, min(due) - now)

    def run_once(self) -> CycleResult:
        """One full cycle now: session check, snapshot, delivery, heartbeat (`sync --once`)."""
        if self.veracity is None:
            return CycleResult(SyncOutcome.CONFIGURATION, "the Veracity URL is not set")
        key = self._current_key()
        if key is None:
            return CycleResult(SyncOutcome.NOT_PAIRED, self._credential_problem
                               or DEFAULT_MESSAGES[ConnectorState.NEEDS_TOKEN][1])
        try:
            session = self._check_session()
            queued = False
            if session.ok:
                queued = self._take_snapshot(force=True)
            delivered = self._deliver(key)
            if not self._revoked_notice:
                self._heartbeat(key)
        except PacerStopped:
            return CycleResult(SyncOutcome.GATEWAY_ERROR, "stopped")
        finally:
            self._publish()
        return self._cycle_result(queued, delivered)

    # --- one step -------------------------------------------------------------------------

    def _step(self) -> None:
        now = self._clock()
        if now >= self._next_tickle:
            self._check_session()
        key = self._current_key()
        if key is None or self.veracity is None:
            if now >= self._next_key_check:
                self._next_key_check = now + KEY_POLL_INTERVAL_S
            return
        if now >= self._next_snapshot or self._sync_requested:
            force = self._sync_requested
            self._sync_requested = False
            self._last_snapshot_started = now
            self._next_snapshot = now + self._snapshot_interval()
            if self._session_is_fresh_or_checked().ok:
                self._take_snapshot(force=force)
                self._next_delivery = min(self._next_delivery, self._clock())
        if self._stop_event.is_set():
            return
        if self._clock() >= self._next_delivery:
            self._deliver(key)
        if self._revoked_notice:
            return  # the key was just refused: not one more request with it
        if self._clock() >= self._next_heartbeat:
            self._heartbeat(key)

    def _session_is_fresh_or_checked(self) -> SessionCheck:
        # A check from the last few seconds is good enough; otherwise look again (a snapshot
        # taken on a dead session would only produce errors).
        if self._session is not None and self._next_tickle - self._clock() > \
                self.settings.tickle_interval_s - 5:
            return self._session
        return self._check_session()

    def _check_session(self) -> SessionCheck:
        check = self.gateway.check_session()
        if self._session is None or check.state != self._session.state:
            logger.info("gateway session: %s", check.state)
        self._session = check
        self._next_tickle = self._clock() + self.settings.tickle_interval_s
        self._publish()  # show the gateway's state before a snapshot that may take a while
        return check

    def _take_snapshot(self, *, force: bool) -> bool:
        """Read the gateway; queue the snapshot if it changed (or is due anyway)."""
        started = time.monotonic()
        try:
            snapshot = take_snapshot(self.gateway)
        except GatewayError as error:
            logger.warning("snapshot failed: %s", error.message)
            self._session = SessionCheck(error.gateway_state, error.message)
            return False
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # An answer shaped unlike the gateway's: report it as a gateway error each cycle
            # instead of failing the loop. The message may quote IBKR data, so only the type
            # and where it happened are logged.
            logger.warning("snapshot failed: the gateway sent an answer the connector cannot "
                           "read (%s)\n%s", type(error).__name__,
                           "".join(traceback.format_tb(error.__traceback__)))
            self._session = SessionCheck(GatewayState.ERROR,
                                         "The gateway sent an answer the connector cannot read.")
            return False
        self.counters.snapshots_taken += 1
        self.counters.last_snapshot_read_s = time.monotonic() - started
        fingerprint = snapshot.fingerprint()
        full_due = self._clock() - self._last_full_queued_at >= \
            self.settings.full_snapshot_interval_s
        if fingerprint == self._last_fingerprint and not force and not full_due:
            logger.debug("portfolio unchanged: no snapshot queued")
            return False
        self._queue(snapshot)
        self.counters.snapshots_queued += 1
        self._last_fingerprint = fingerprint
        self._last_full_queued_at = self._clock()
        logger.info("snapshot %s queued: %d account(s), %d position(s), read in %.1f s",
                    snapshot.snapshot_id, len(snapshot.accounts), snapshot.position_count(),
                    self.counters.last_snapshot_read_s)
        return True

    def _queue(self, snapshot: Snapshot) -> None:
        self.outbox.put(snapshot.snapshot_id, snapshot.taken_at.isoformat(),
                        json_dumps(snapshot.payload()))

    def _deliver(self, key: str) -> bool:
        """Send queued snapshots oldest first; True if the outbox was emptied."""
        assert self.veracity is not None
        while not self._stop_event.is_set():
            batch = self.outbox.oldest(OUTBOX_BATCH)
            if not batch:
                self._delivery_backoff_s = DELIVERY_BACKOFF_INITIAL_S
                return True
            for item in batch:
                try:
                    duplicate = self.veracity.send_snapshot(key, item.body)
                except RequestRejected as error:
                    # Sending it again would fail the same way; keeping it would block the rest.
                    logger.error("Veracity rejected snapshot %s (%s: %s); dropped",
                                 item.snapshot_id, error.code or error.status, error.message)
                    self.outbox.remove(item.snapshot_id)
                    continue
                except VeracityError as error:
                    self._veracity_failed(error, key)
                    return False
                self.outbox.remove(item.snapshot_id)
                self.counters.snapshots_delivered += 1
                self._veracity_ok()
                taken_at = datetime.fromisoformat(item.taken_at)
                if self._last_snapshot_at is None or taken_at > self._last_snapshot_at:
                    self._last_snapshot_at = taken_at
                if duplicate:
                    logger.info("snapshot %s was already stored", item.snapshot_id)
        return False

    def _heartbeat(self, key: str) -> None:
        assert self.veracity is not None
        session = self._session or self._check_session()
        body = {
            "connector_version": connector_version(),
            "uptime_s": int(self._clock() - self._started_at),
            "last_snapshot_at": self._last_snapshot_at.isoformat()
            if self._last_snapshot_at else None,
            "gateway": {"state": session.state.value, "message": session.message[:500],
                        "port": self.gateway.port},
        }
        try:
            schedule = self.veracity.heartbeat(key, body)
        except VeracityError as error:
            self._veracity_failed(error, key)
            if not isinstance(error, VeracityRateLimited):
                self._next_heartbeat = self._clock() + self._heartbeat_interval()
            return
        self.counters.heartbeats_sent += 1
        was_down = bool(self._veracity_down_message)
        self._schedule = schedule
        self._veracity_ok()
        self._next_heartbeat = self._clock() + self._heartbeat_interval()
        # The server may ask for a shorter interval than the one the last snapshot was planned
        # with (e.g. the first heartbeat after start): re-plan from when that snapshot began.
        self._next_snapshot = min(self._next_snapshot,
                                  self._last_snapshot_started + self._snapshot_interval())
        if was_down:
            self._next_delivery = self._clock()

    def _veracity_ok(self) -> None:
        self._veracity_down_message = ""
        self._delivery_backoff_s = DELIVERY_BACKOFF_INITIAL_S
        self._last_sync_at = datetime.now(UTC)

    def _veracity_failed(self, error: VeracityError, key: str) -> None:
        now = self._clock()
        if isinstance(error, KeyRevoked):
            self._revoke(key)
        elif isinstance(error, VeracityRateLimited):
            logger.warning("Veracity asks us to wait %.0f s", error.retry_after_s)
            self._next_delivery = max(self._next_delivery, now + error.retry_after_s)
            self._next_heartbeat = max(self._next_heartbeat, now + error.retry_after_s)
        elif isinstance(error, VeracityUnavailable):
            if not self._veracity_down_message:
                logger.warning("Veracity unreachable: %s; snapshots are kept", error.message)
            self._veracity_down_message = error.message
            self._next_delivery = now + self._delivery_backoff_s
            self._delivery_backoff_s = min(self._delivery_backoff_s * 2,
                                           max(self._snapshot_interval(), 60.0))
        else:
            logger.error("Veracity refused a request: %s", error.message)

    def _revoke(self, refused_key: str) -> None:
        logger.warning("Veracity refused the connector key (revoked or invalid); deleting it")
        credentials = self._credential_store()
        try:
            # Another process may have stored a new key meanwhile: only delete the refused one.
            if credentials is not None and credentials.get() == refused_key:
                credentials.delete()
        except CredentialError as error:
            logger.error("could not delete the refused key: %s", error)
        dropped = self.outbox.clear()
        if dropped:
            logger.warning("%d unsent snapshot(s) dropped with the refused key", dropped)
        self._revoked_notice = True
        self._last_fingerprint = None
        self.holder.set_state(ConnectorState.REVOKED, paired=False)

    # --- helpers --------------------------------------------------------------------------

    def _credential_store(self) -> CredentialStore | None:
        if self._credentials is None:
            try:
                self._credentials = open_credential_store(self.settings.key_store,
                                                          self.folders.data_dir)
                self._credential_problem = ""
            except CredentialError as error:
                self._credential_problem = str(error)
                return None
        return self._credentials

    def _current_key(self) -> str | None:
        credentials = self._credential_store()
        if credentials is None:
            return None
        try:
            key = credentials.get()
        except CredentialError as error:
            self._credential_problem = str(error)
            return None
        self._credential_problem = ""
        if key is not None and self._revoked_notice:
            self._revoked_notice = False  # a new key arrived (paired in another process)
            now = self._clock()
            self._next_snapshot = self._next_heartbeat = now
        return key

    def _snapshot_interval(self) -> float:
        return self.settings.snapshot_interval_s or self._schedule.snapshot_interval_s

    def _heartbeat_interval(self) -> float:
        return self.settings.heartbeat_interval_s or self._schedule.heartbeat_interval_s

    def _publish(self) -> None:
        """Derive the person-facing state from what the engine knows and publish it."""
        current = self.holder.status
        common: dict[str, Any] = {
            "last_sync_at": self._last_sync_at,
            "last_snapshot_at": self._last_snapshot_at,
            "gateway_state": self._session.state if self._session else None,
            "gateway_message": self._session.message if self._session else "",
            "gateway_port": self.gateway.port,
            "veracity_url": self.settings.veracity_url,
            "pending_snapshots": self.outbox.count(),
        }
        key = self._current_key()
        common["paired"] = key is not None
        if self._credential_problem:
            status = current.with_state(ConnectorState.ERROR, self._credential_problem,
                                        "Choose a key store, then pair again.", **common)
        elif self._unexpected_error:
            status = current.with_state(ConnectorState.ERROR, *UNEXPECTED_ERROR_TEXT, **common)
        elif self.veracity is None:
            status = current.with_state(
                ConnectorState.NEEDS_TOKEN, "Veracity's address is not set.",
                "Set the Veracity URL (Settings… or VERACITY_URL), then paste a token.", **common)
        elif key is None:
            message, next_step = DEFAULT_MESSAGES[
                ConnectorState.REVOKED if self._revoked_notice else ConnectorState.NEEDS_TOKEN]
            status = current.with_state(ConnectorState.NEEDS_TOKEN, message, next_step, **common)
        elif self._session is not None and not self._session.ok:
            status = self._gateway_problem_status(current, self._session, common)
        elif self._veracity_down_message:
            status = current.with_state(
                ConnectorState.VERACITY_UNREACHABLE,
                f"Veracity cannot be reached ({self._veracity_down_message}); snapshots are "
                "kept and sent when it is back.", **common)
        else:
            status = current.with_state(ConnectorState.SYNCING, **common)
        self.holder.publish(status)
        if self._status_file is not None:
            self._status_file.touch(status)

    @staticmethod
    def _gateway_problem_status(current: ConnectorStatus, session: SessionCheck,
                                common: dict[str, Any]) -> ConnectorStatus:
        if session.state is GatewayState.UNREACHABLE:
            return current.with_state(ConnectorState.GATEWAY_UNREACHABLE, session.message,
                                      **common)
        if session.state in (GatewayState.UNAUTHENTICATED, GatewayState.COMPETING):
            return current.with_state(ConnectorState.GATEWAY_UNAUTHENTICATED, session.message,
                                      **common)
        return current.with_state(ConnectorState.GATEWAY_UNREACHABLE,
                                  f"The gateway answers with errors: {session.message}",
                                  "Wait a few minutes; if it persists, restart the IBKR gateway.",
                                  **common)

    def _cycle_result(self, queued: bool, delivered: bool) -> CycleResult:
        status = self.holder.status
        if status.state is ConnectorState.NEEDS_TOKEN or self._revoked_notice:
            return CycleResult(SyncOutcome.KEY_REVOKED, status.message)
        session = self._session
        if session is not None and not session.ok:
            outcome = {
                GatewayState.UNREACHABLE: SyncOutcome.GATEWAY_UNREACHABLE,
                GatewayState.UNAUTHENTICATED: SyncOutcome.GATEWAY_UNAUTHENTICATED,
                GatewayState.COMPETING: SyncOutcome.GATEWAY_UNAUTHENTICATED,
            }.get(session.state, SyncOutcome.GATEWAY_ERROR)
            return CycleResult(outcome, session.message)
        if self._veracity_down_message or not delivered:
            return CycleResult(SyncOutcome.VERACITY_UNREACHABLE,
                               f"{status.pending_snapshots} snapshot(s) kept for later: "
                               f"{self._veracity_down_message or 'delivery incomplete'}")
        if not queued:
            return CycleResult(SyncOutcome.UNCHANGED, "nothing to send")
        return CycleResult(SyncOutcome.DELIVERED, "snapshot delivered")

