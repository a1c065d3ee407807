"""When alerts may go out: the user's market days and hours, and their snooze.

Default: US market hours on NYSE trading days — the regular sessions of exchange-calendars'
XNYS (09:30 to 16:00 New York, early closes at 13:00, no session on holidays). Or the user's own
days and hours in their time zone, or always. A snooze silences everything until its time.

Incidents wait while the schedule is closed: one that opens and ends inside quiet hours sends
nothing; one still open when the schedule opens is sent then (veracity_server/alerts/detection.py).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

NYSE, CUSTOM, ALWAYS = "nyse", "custom", "always"
SCHEDULE_KINDS = (NYSE, CUSTOM, ALWAYS)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Schedule:
    """A user's alert schedule, as stored in alert_settings."""

    kind: str
    days: frozenset[int]  # weekdays, Monday = 0
    start: time
    end: time
    timezone: str
    snoozed_until: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        """True when an alert may be sent at `now` (aware)."""
        if self.snoozed_until is not None and now < self.snoozed_until:
            return False
        if self.kind == ALWAYS:
            return True
        if self.kind == NYSE:
            return nyse_is_open(now)
        return custom_is_open(now, self.days, self.start, self.end, zone(self.timezone))


def parse_days(text: str) -> frozenset[int]:
    """"0,1,2,3,4" → {0, 1, 2, 3, 4}; ValueError for anything but weekday numbers 0 to 6."""
    days = frozenset(int(part) for part in text.split(",") if part.strip())
    if not days <= set(range(7)):
        raise ValueError("days are weekday numbers from 0 (Monday) to 6 (Sunday)")
    return days


def parse_clock(text: str) -> time:
    """"09:30" → time(9, 30); ValueError otherwise (24:00 is not a time: use 23:59)."""
    hours, _, minutes = text.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"a time is HH:MM, got {text!r}")
    return time(int(hours), int(minutes))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like "
                         f"America/New_York)") from None


def custom_is_open(now: datetime, days: frozenset[int], start: time, end: time,
                   where: ZoneInfo) -> bool:
    """Inside the user's hours on one of their days, in their zone.

    A window whose end is before its start runs over midnight (22:00 to 06:00): its day is the day
    it starts on.
    """
    local = now.astimezone(where)
    clock = local.time().replace(tzinfo=None)
    if start <= end:
        return local.weekday() in days and start <= clock < end
    if clock >= start:
        return local.weekday() in days
    return clock < end and (local.weekday() - 1) % 7 in days


@functools.cache
def _nyse() -> Any:
    """XNYS, built once per process (import ~0.3 s, build ~0.1 s: not per check)."""
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS")


def nyse_is_open(now: datetime) -> bool:
    """True during a regular NYSE session (holidays closed, early closes honoured).

    Beyond the calendar's range (it is built for about a year ahead of its import) the NYSE's
    regular hours on weekdays stand in, so a long-running worker keeps alerting.
    """
    import pandas

    calendar = _nyse()
    moment = pandas.Timestamp(now.astimezone(UTC))
    try:
        return bool(calendar.is_open_at_time(moment, side="left"))
    except ValueError:  # DateOutOfBounds / MinuteOutOfBounds
        log.warning("the XNYS calendar does not reach %s; using weekday hours", now)
        return custom_is_open(now, frozenset(range(5)), time(9, 30), time(16, 0),
                              ZoneInfo("America/New_York"))


def describe(schedule: Schedule) -> str:
    """The schedule in words, for the page."""
    if schedule.kind == ALWAYS:
        return "at any time"
    if schedule.kind == NYSE:
        return "during US market hours on NYSE trading days (09:30 to 16:00 New York)"
    days = ", ".join(WEEKDAY_NAMES[day] for day in sorted(schedule.days)) or "no day"
    return (f"{days}, {schedule.start:%H:%M} to {schedule.end:%H:%M} ({schedule.timezone})")
