"""When each of the engine's jobs is due next, and the intervals it plans with.

Times are on the engine's schedule clock (seconds; tests move a fake one). The intervals are
the person's settings where set, else what the server asked for in its last answer.
"""

from __future__ import annotations

from veracity_connector.settings import Settings
from veracity_connector.veracity_api import Schedule

KEY_POLL_INTERVAL_S = 2.0  # while unpaired: how often to look for a key stored by another process


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
