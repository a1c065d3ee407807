"""The alert schedule: NYSE sessions from exchange-calendars, custom hours in a zone (over
midnight too), snooze."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from veracity_server.alerts.schedule import ALWAYS, CUSTOM, NYSE, Schedule, nyse_is_open

WEEKDAYS = frozenset(range(5))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_nyse_regular_sessions_holidays_and_early_closes() -> None:
    assert nyse_is_open(at("2026-12-07T14:30"))  # Monday 09:30 New York: the open
    assert not nyse_is_open(at("2026-12-07T14:29"))
    assert not nyse_is_open(at("2026-12-07T21:00"))  # 16:00: closed
    assert not nyse_is_open(at("2026-12-06T15:00"))  # Sunday
    assert not nyse_is_open(at("2026-11-26T15:00"))  # Thanksgiving
    assert nyse_is_open(at("2026-11-27T17:59"))  # the day after: open until 13:00
    assert not nyse_is_open(at("2026-11-27T18:00"))
    assert nyse_is_open(at("2026-07-06T13:30"))  # summer time: 09:30 is 13:30 UTC


def test_custom_hours_in_the_users_zone_and_over_midnight() -> None:
    london = Schedule(CUSTOM, WEEKDAYS, time(8, 0), time(17, 0), "Europe/London")
    assert london.is_open(at("2026-12-07T08:00")) and not london.is_open(at("2026-12-07T17:00"))
    assert london.is_open(at("2026-07-06T07:00"))  # 08:00 BST
    assert not london.is_open(at("2026-12-05T12:00"))  # Saturday
    night = Schedule(CUSTOM, frozenset({4}), time(22, 0), time(6, 0), "UTC")  # Fri night
    assert night.is_open(at("2026-12-11T23:00")) and night.is_open(at("2026-12-12T05:59"))
    assert not night.is_open(at("2026-12-12T06:00")) and not night.is_open(at("2026-12-10T23:00"))


def test_snooze_silences_every_schedule_until_its_time() -> None:
    now = at("2026-12-07T15:00")
    for kind in (NYSE, CUSTOM, ALWAYS):
        schedule = Schedule(kind, WEEKDAYS, time(0, 0), time(23, 59), "UTC",
                            snoozed_until=now + timedelta(minutes=1))
        assert not schedule.is_open(now)
        assert schedule.is_open(now + timedelta(minutes=1))
