"""The `Engine`: the commands the tray and CLI call, the worker loop, and one step of it.

The loop decides what is due (`Timetable`) and hands each job to its module: the gateway's
session to `SessionGuardian`, snapshots to `SnapshotCollector`, the outbox and heartbeats to
`Delivery`, the key to `KeyKeeper`, pairing and a refused key to `PairingChanges`; `outcome`
turns what they know into the state a person sees. Commands from other threads reach the
loop's thread through the `CommandQueue` (`commands`: one owner of the engine's state).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from veracity_connector.credentials import CredentialStore
from veracity_connector.engine.collection import SnapshotCollector
from veracity_connector.engine.commands import CommandQueue, EngineStopped
from veracity_connector.engine.delivery import Delivery
from veracity_connector.engine.guardian import SessionGuardian
from veracity_connector.engine.keys import KeyKeeper
from veracity_connector.engine.outcome import (
    UNEXPECTED_ERROR_TEXT,
    CycleResult,
    EngineCounters,
    EngineFacts,
    SyncOutcome,
    cycle_result,
    person_facing_status,
)
from veracity_connector.engine.pairing_changes import PairingChanges
from veracity_connector.engine.timetable import KEY_POLL_INTERVAL_S, GapDetector, Timetable
from veracity_connector.gateway import GatewayClient, Pacer
from veracity_connector.gateway.pacing import PacerStopped
from veracity_connector.health import HealthReporter, engine_sources
from veracity_connector.history.backfill import HistoryDuty
from veracity_connector.outbox import SNAPSHOT, Outbox, OutboxLimits
from veracity_connector.settings import Folders, Settings
from veracity_connector.state import (
    DEFAULT_MESSAGES,
    ConnectorState,
    ConnectorStatus,
    PairingOutcome,
    StatusCallback,
    StatusHolder,
)
from veracity_connector.status_file import StatusFile
from veracity_connector.veracity_api import VeracityClient
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)

MAX_IDLE_S = 15.0  # the loop wakes at least this often (status file freshness)
UNEXPECTED_ERROR_RETRY_S = 15.0  # the loop never waits longer than MAX_IDLE_S anyway


class Engine:
    """Keeps Veracity in sync with the gateway; observable through `status`/`subscribe`."""

    def __init__(self, settings: Settings, folders: Folders, *,
                 credentials: CredentialStore | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] | None = None,
                 write_status_file: bool = True) -> None:
        """`clock` schedules (monotonic); gaps are measured against `wall_clock` (default:
        `time.time` with the default clock, else `clock` itself: a test's one fake clock)."""
        self.settings = settings
        self.folders = folders
        self._clock = clock
        self._gaps = GapDetector(clock, wall_clock or (
            time.time if clock is time.monotonic else clock))
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._commands = CommandQueue(self._wake_event)
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
                                           stop_event=self._stop_event,
                                           proxy=settings.proxy)
        self.keys = KeyKeeper(settings, folders, credentials)
        # The health summary sent with heartbeats: doctor's quick checks, every few minutes.
        self.health = HealthReporter(engine_sources(settings, folders, self.keys), clock=clock)
        self.timetable = Timetable(settings, clock())
        self.collector = SnapshotCollector(self.gateway, self.outbox, settings, self.counters,
                                           clock)
        self.holder = StatusHolder(ConnectorStatus(
            veracity_url=settings.veracity_url, gateway_port=self.gateway.port))
        self.pairing_changes = PairingChanges(
            veracity=self.veracity, keys=self.keys, outbox=self.outbox, timetable=self.timetable,
            collector=self.collector, holder=self.holder, data_dir=folders.data_dir, clock=clock,
            publish=lambda: self._publish(), wake_event=self._wake_event)
        self.delivery = Delivery(self.veracity, self.outbox, self.timetable, self.counters, clock,
                                 self._stop_event, on_key_refused=self.pairing_changes.revoke)
        # The session guardian: tickles, reopens the brokerage session, steps aside (issue 18).
        self.session = SessionGuardian(
            self.gateway, tickle_interval_s=settings.tickle_interval_s, clock=clock,
            wall_clock=wall_clock or (time.time if clock is time.monotonic else clock),
            timetable=self.timetable, on_checked=lambda: self._publish())
        # Past daily values (issue 19): the gateway's year once, Flex daily when set up.
        self.history = HistoryDuty(
            data_dir=folders.data_dir, key_store=settings.key_store, gateway=self.gateway,
            outbox=self.outbox, flex_url=settings.flex_url, proxy=settings.proxy,
            stop_event=self._stop_event,
            wall_clock=wall_clock or (time.time if clock is time.monotonic else clock),
            known_accounts=lambda: self.collector.account_ids)
        self.delivery.on_history_delivered = self.history.acknowledged
        self.health.add_source(self.history.health_checks)  # history's states reach the page
        self._unexpected_error = False  # the last step raised; cleared when one completes
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
        self._commands.post(self._request_sync)

    def pair(self, token: str, *, discard_outbox: bool = False) -> PairingOutcome:
        """Exchange a one-time token for a key and store it (blocks for the network call).

        Unsent snapshots of another Veracity account make it fail with code `other_account`
        unless `discard_outbox` (the person agreed to drop them); see pairing.pair_with_token.
        """
        try:
            return self._commands.post(
                lambda: self.pairing_changes.pair(token, discard_outbox)).result()
        except EngineStopped:
            return PairingOutcome(False, "not_running",
                                  "The connector stopped before it could pair; start it again.")

    def unpair(self) -> None:
        """Forget the key and drop unsent snapshots; the state becomes needs_token."""
        with contextlib.suppress(EngineStopped):
            self._commands.post(self.pairing_changes.unpair).result()

    def _request_sync(self) -> None:
        self._sync_requested = True
        self._wake_event.set()

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
            self._commands.loop_started()
            self._publish()  # paired or not, before the first (possibly long) step
            while not self._stop_event.is_set():
                try:
                    self._commands.run_pending()
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
                wait_s = max(0.0, min(delay, MAX_IDLE_S))
                self._gaps.check()
                self._wake_event.wait(wait_s)
                self._wake_event.clear()
                # A wait far longer than asked: the machine was suspended (Windows' monotonic
                # clock runs on through sleep, so the wall clock cannot tell).
                self._after_gap(self._gaps.check(expected_s=wait_s))
        finally:
            self._commands.loop_ended()  # refuses what waits: nobody waits forever
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
        paired = self.pairing_changes.current_key() is not None
        outbox_pending = paired and self.outbox.count() > 0
        if self._sync_requested:
            return 0.0
        return self.timetable.seconds_until_due(self._clock(), paired=paired,
                                                outbox_pending=outbox_pending)

    def run_once(self) -> CycleResult:
        """One full cycle now: session check, snapshot, delivery, heartbeat (`sync --once`)."""
        if self.veracity is None:
            return CycleResult(SyncOutcome.CONFIGURATION, "the Veracity URL is not set")
        key = self.pairing_changes.current_key()
        if key is None:
            return CycleResult(SyncOutcome.NOT_PAIRED, self.keys.problem
                               or DEFAULT_MESSAGES[ConnectorState.NEEDS_TOKEN][1])
        try:
            session = self.session.check()
            queued = False
            if session.ok:
                queued = self._take_snapshot(force=True)
            self.history.run_due(gateway_ok=session.ok, flex_in_thread=False)
            refused_before = self.counters.snapshots_refused
            delivered = self.delivery.send_outbox(key, budget_s=None)
            refusal = self.delivery.refusal if (
                self.counters.snapshots_refused > refused_before) else None
            if not self.keys.revoked_notice:
                self._heartbeat(key)
        except PacerStopped:
            return CycleResult(SyncOutcome.GATEWAY_ERROR, "stopped")
        finally:
            self._publish()
        return cycle_result(self.holder.status, revoked_notice=self.keys.revoked_notice,
                            session=self.session.latest,
                            veracity_down_message=self.delivery.down_message,
                            queued=queued, delivered=delivered,
                            refusal=refusal.sentence() if refusal else "")

    # --- one step -------------------------------------------------------------------------

    def _after_gap(self, gap_s: float | None) -> None:
        if gap_s is None:
            return
        logger.warning("the clock jumped by %+.0f s or the computer slept: checking the gateway "
                       "and Veracity now", gap_s)
        self.timetable.recheck_now(self._clock())
        self.session.revalidate()  # the sleep may have closed the brokerage session

    def _step(self) -> None:
        self._after_gap(self._gaps.check())  # a wall-clock jump, or a sleep on Linux/macOS
        timetable = self.timetable
        now = self._clock()
        if now >= timetable.next_tickle:
            self.session.check()
        key = self.pairing_changes.current_key()
        if key is None or self.veracity is None:
            if now >= timetable.next_key_check:
                timetable.next_key_check = now + KEY_POLL_INTERVAL_S
            return
        if now >= timetable.next_snapshot or self._sync_requested:
            force = self._sync_requested
            self._sync_requested = False
            timetable.snapshot_started(now)
            if self.session.fresh_or_checked().ok:
                self._take_snapshot(force=force)
                timetable.next_delivery = min(timetable.next_delivery, self._clock())
        if self._stop_event.is_set():
            return
        # History after the snapshot: one /pa/performance request at most per pacing window,
        # Flex in its own thread; what they queue goes out with this step's budgeted delivery.
        session = self.session.latest
        if self.history.run_due(gateway_ok=session is not None and session.ok):
            timetable.next_delivery = min(timetable.next_delivery, self._clock())
        # The heartbeat before the delivery: a budgeted delivery yields whenever the heartbeat
        # is due, so one due now would hold the outbox back a whole step.
        if self._clock() >= timetable.next_heartbeat:
            self._heartbeat(key)
        if self.keys.revoked_notice:
            return  # the key was just refused: not one more request with it
        if self._clock() >= timetable.next_delivery:
            # A snapshot read can outlast the tickle interval: tickle first, so the budgeted
            # delivery gets a whole interval instead of yielding after one snapshot.
            if self._clock() >= timetable.next_tickle:
                self.session.check()
            self.delivery.send_outbox(key)

    def _take_snapshot(self, *, force: bool) -> bool:
        collected = self.collector.collect(force=force)
        if collected.gateway_problem is not None:
            self.session.latest = collected.gateway_problem
        return collected.queued

    def _heartbeat(self, key: str) -> None:
        session = self.session.latest_or_checked()
        self.delivery.heartbeat(key, session, gateway_port=self.gateway.port,
                                uptime_s=int(self._clock() - self._started_at),
                                health=self.health.summary())

    def _publish(self) -> None:
        """Derive the person-facing state from what the engine knows and publish it."""
        session = self.session.latest
        common: dict[str, Any] = {
            "last_sync_at": self.delivery.last_sync_at,
            "last_snapshot_at": self.delivery.last_snapshot_at,
            "gateway_state": session.state if session else None,
            "gateway_message": session.message if session else "",
            "gateway_port": self.gateway.port,
            "veracity_url": self.settings.veracity_url,
            "pending_snapshots": self.outbox.count(SNAPSHOT),
        }
        key = self.pairing_changes.current_key()
        common["paired"] = key is not None
        facts = EngineFacts(
            credential_problem=self.keys.problem, unexpected_error=self._unexpected_error,
            veracity_configured=self.veracity is not None, paired=key is not None,
            revoked_notice=self.keys.revoked_notice, session=session,
            veracity_down_message=self.delivery.down_message,
            refusal=self.delivery.refusal.sentence() if self.delivery.refusal else "",
            limit_message=self.delivery.limit_message,
            kept_snapshots=common["pending_snapshots"])
        status = person_facing_status(self.holder.status, facts, common)
        self.holder.publish(status)
        if self._status_file is not None:
            self._status_file.touch(status)
