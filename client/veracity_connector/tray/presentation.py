"""Words the tray shows for a connector status: labels, tooltip, status line, notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from veracity_connector.state import ConnectorState, ConnectorStatus

PRODUCT_NAME = "Veracity IBKR Connector"

STATE_LABELS: dict[ConnectorState, str] = {
    ConnectorState.NEEDS_TOKEN: "Needs a token",
    ConnectorState.PAIRING: "Pairing…",
    ConnectorState.GATEWAY_UNREACHABLE: "Gateway not running",
    ConnectorState.GATEWAY_UNAUTHENTICATED: "Gateway login needed",
    ConnectorState.GATEWAY_WAITING: "Waiting for IBKR",
    ConnectorState.SYNCING: "Syncing",
    ConnectorState.REVOKED: "Key revoked",
    ConnectorState.VERACITY_UNREACHABLE: "Veracity unreachable",
    ConnectorState.ERROR: "Error",
}

STATUS_LINE = "Status: {state} — last sync {time}"

# Windows truncates tray tooltips at 127 characters (NOTIFYICONDATA.szTip).
TOOLTIP_LIMIT = 127

# States where the connector cannot go on without the person: these raise a notification.
STATES_NEEDING_THE_PERSON = frozenset({
    ConnectorState.NEEDS_TOKEN,
    ConnectorState.REVOKED,
    ConnectorState.GATEWAY_UNAUTHENTICATED,
    ConnectorState.ERROR,
})


@dataclass(frozen=True)
class Notification:
    """A balloon / toast: a title and one or two sentences."""

    title: str
    message: str


def state_label(state: ConnectorState) -> str:
    """A short name for the state ("Syncing", "Gateway login needed")."""
    return STATE_LABELS.get(state, str(state))


def format_sync_time(moment: datetime | None, now: datetime | None = None) -> str:
    """'never', '14:05' (today, local time) or '3 Nov 14:05'."""
    if moment is None:
        return "never"
    local = moment.astimezone()
    today = (now or datetime.now().astimezone()).astimezone().date()
    if local.date() == today:
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


def status_line(status: ConnectorStatus, now: datetime | None = None) -> str:
    """The first, disabled menu line: state and last sync time."""
    return STATUS_LINE.format(state=state_label(status.state),
                              time=format_sync_time(status.last_sync_at, now))


def tooltip(status: ConnectorStatus, now: datetime | None = None) -> str:
    """Hover text: product, state, last sync; cut to what Windows can show.

    Plain Latin-1 on purpose: on X the tooltip is the icon window's WM_NAME, a Latin-1 string.
    """
    text = (f"{PRODUCT_NAME}\n{state_label(status.state).rstrip('…')} - last sync "
            f"{format_sync_time(status.last_sync_at, now)}")
    return text if len(text) <= TOOLTIP_LIMIT else text[: TOOLTIP_LIMIT - 3] + "..."


def notification_for_change(previous: ConnectorStatus | None,
                            current: ConnectorStatus) -> Notification | None:
    """A notification when the connector newly needs the person; None otherwise."""
    if current.state not in STATES_NEEDING_THE_PERSON:
        return None
    if previous is not None and previous.state == current.state:
        return None
    return Notification(title=f"{PRODUCT_NAME}: {state_label(current.state)}",
                        message=f"{current.message} {current.next_step}".strip())


def update_notification(version: str) -> Notification:
    """Tell the person a new version can be installed from the menu."""
    return Notification(title=f"{PRODUCT_NAME}: update available",
                        message=f"Version {version} is available. Choose "
                                f"“Install update {version}” in the tray menu.")
