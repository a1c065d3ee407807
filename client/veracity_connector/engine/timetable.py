"""When each of the engine's jobs is due next, and the intervals it plans with.

Times are on the engine's schedule clock, monotonic (seconds; tests move a fake one), so a
wall-clock jump neither bunches the jobs nor stalls them. The intervals are the person's
settings where set, else what the server asked for in its last answer.

`GapDetector` notices time the schedule clock did not see pass as it should: a wall clock that
moved differently from the monotonic one (a clock set by hand or by NTP, a suspended machine
on Linux and macOS, where the monotonic clock stops during sleep) or a wait that lasted far
longer than asked (a suspended machine on Windows, where it does not). After a gap the engine
re-checks the gateway and Veracity once, at once (`recheck_now`); every job is then planned
from that moment, so nothing is made up for in a burst.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from veracity_connector.settings import Settings
from veracity_connector.veracity_api import Schedule

logger = logging.getLogger(__name__)

KEY_POLL_INTERVAL_S = 2.0  # while unpaired: how often to look for a key stored by another process
# Smaller differences are NTP's slewing, a busy machine, a slow request: not worth a re-check.
GAP_THRESHOLD_S = 30.0


class Timetable:
    """The next due time of each job; everything is due at once after start."""

    def __init__(self, settings: Settings, now: float) -> None:
        self._settings = settings
        self.server_schedule = Schedule()
        self.next_tickle = now
        self.next_snapshot = now
        self.next_heartbeat = now
        self.next_delivery = now
        self.next_key_check = now
        self.last_snapshot_started = float("-inf")

    def snapshot_interval(self) -> float:
        """Seconds between snapshots."""
        return self._settings.snapshot_interval_s or self.server_schedule.snapshot_interval_s

    def heartbeat_interval(self) -> float:
        """Seconds between heartbeats."""
        return self._settings.heartbeat_interval_s or self.server_schedule.heartbeat_interval_s

    def snapshot_started(self, now: float) -> None:
        """A snapshot is being taken now: plan the next one."""
        self.last_snapshot_started = now
        self.next_snapshot = now + self.snapshot_interval()

    def adopt(self, schedule: Schedule, now: float) -> None:
        """The server answered a heartbeat with `schedule`: plan the next heartbeat by it."""
        self.server_schedule = schedule
        self.next_heartbeat = now + self.heartbeat_interval()
        # The server may ask for a shorter interval than the one the last snapshot was planned
        # with (e.g. the first heartbeat after start): re-plan from when that snapshot began.
        self.next_snapshot = min(self.next_snapshot,
                                 self.last_snapshot_started + self.snapshot_interval())

    def hold_off(self, until: float) -> None:
        """Veracity asked us to wait: no delivery or heartbeat before `until`."""
        self.next_delivery = max(self.next_delivery, until)
        self.next_heartbeat = max(self.next_heartbeat, until)

    def recheck_now(self, now: float) -> None:
        """After a gap: tickle the gateway, send a heartbeat and retry delivery once, now."""
        self.next_tickle = min(self.next_tickle, now)
        self.next_heartbeat = min(self.next_heartbeat, now)
        self.next_delivery = min(self.next_delivery, now)

    def seconds_until_due(self, now: float, *, paired: bool, outbox_pending: bool) -> float:
        """Seconds until the next scheduled job."""
        due = [self.next_tickle]
        if not paired:
            due.append(self.next_key_check)
        else:
            due += [self.next_snapshot, self.next_heartbeat]
            if outbox_pending:
                due.append(self.next_delivery)
        return max(0.0, min(due) - now)


class GapDetector:
    """Compares the schedule clock with the wall clock (and with the waits asked for)."""

    def __init__(self, clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._last = (clock(), wall_clock())

    def check(self, expected_s: float | None = None) -> float | None:
        """The gap since the last check in seconds, or None; `expected_s`: the wait asked for."""
        now, wall = self._clock(), self._wall_clock()
        last, last_wall = self._last
        self._last = (now, wall)
        elapsed = now - last
        skew = (wall - last_wall) - elapsed
        if abs(skew) > GAP_THRESHOLD_S:
            return skew
        if expected_s is not None and elapsed - expected_s > GAP_THRESHOLD_S:
            return elapsed - expected_s
        return None
