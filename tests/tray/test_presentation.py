"""Tooltip, status line and notifications derived from a connector status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from veracity_connector.state import ConnectorState, ConnectorStatus
from veracity_connector.tray.presentation import (
    STATE_LABELS,
    TOOLTIP_LIMIT,
    format_sync_time,
    notification_for_change,
    status_line,
    tooltip,
    update_notification,
)

NOW = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)


def status(state: ConnectorState, **changes: Any) -> ConnectorStatus:
    return ConnectorStatus().with_state(state, **changes)


def test_every_state_has_a_label() -> None:
    assert set(STATE_LABELS) == set(ConnectorState)


def test_sync_time_is_local_clock_time_today_and_dated_otherwise() -> None:
    assert format_sync_time(None, NOW) == "never"
    today = NOW - timedelta(minutes=5)
    assert format_sync_time(today, NOW) == today.astimezone().strftime("%H:%M")
    last_week = NOW - timedelta(days=7)
    assert format_sync_time(last_week, NOW).startswith(f"{last_week.astimezone().day} ")


def test_tooltip_and_status_line_name_state_and_last_sync() -> None:
    synced = status(ConnectorState.SYNCING, last_sync_at=NOW)
    clock = NOW.astimezone().strftime("%H:%M")
    assert tooltip(synced, NOW) == f"Veracity IBKR Connector\nSyncing - last sync {clock}"
    assert status_line(synced, NOW) == f"Status: Syncing — last sync {clock}"
    assert status_line(status(ConnectorState.NEEDS_TOKEN)) == (
        "Status: Needs a token — last sync never")


def test_tooltips_fit_the_windows_limit_and_x_latin1_window_names() -> None:
    for state in ConnectorState:
        text = tooltip(status(state, last_sync_at=NOW - timedelta(days=3)), NOW)
        assert len(text) <= TOOLTIP_LIMIT
        text.encode("latin-1")  # on X the tooltip is the window name (a Latin-1 string)


def test_notifications_only_when_the_person_is_newly_needed() -> None:
    syncing = status(ConnectorState.SYNCING)
    login = status(ConnectorState.GATEWAY_UNAUTHENTICATED)
    revoked = status(ConnectorState.REVOKED)

    assert notification_for_change(None, syncing) is None
    assert notification_for_change(syncing, status(ConnectorState.VERACITY_UNREACHABLE)) is None
    note = notification_for_change(syncing, login)
    assert note is not None and note.title.endswith("Gateway login needed")
    assert "log in" in note.message
    assert notification_for_change(login, login.replace(message="still")) is None
    revoked_note = notification_for_change(syncing, revoked)
    assert revoked_note is not None and "new one-time token" in revoked_note.message
    assert notification_for_change(None, status(ConnectorState.NEEDS_TOKEN)) is not None


def test_update_notification_names_the_menu_item() -> None:
    note = update_notification("0.3.0")
    assert "Install update 0.3.0" in note.message
