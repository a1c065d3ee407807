"""What an alert says: the e-mail's subject and text, and the webhook's JSON payload.

The payload follows Standard Webhooks' suggestion: `{"type", "timestamp", "data"}`, with types
`connector.alert.opened`, `connector.alert.resolved` and `test`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from veracity_server.alerts.model import AlertIncident
from veracity_server.columns import iso_utc
from veracity_server.models import Connector

OPENED, RESOLVED, TEST = "opened", "resolved", "test"
PAGE_PATH = "/profile/ibkr"

# Per condition: the headline and the one step that fixes it (the page's troubleshooting says
# more).
WHAT = {
    "silent": ("has gone silent",
               "Check that the computer is on and the connector is running; choose "
               "'Sync now' in its tray menu."),
    "gateway_login": ("needs an IBKR login",
                      "Open the gateway's address (usually https://localhost:5000) on that "
                      "computer and log in with two-factor authentication."),
    "competing": ("is blocked by another IBKR session",
                  "Another IBKR login (TWS, the mobile app, another browser) holds the "
                  "session. Syncing resumes when it ends; log out there if it should not."),
    "key_refused": ("is using a revoked key",
                    "This connector was revoked but still tries to send. Pair it again with "
                    "a new token, or uninstall it."),
    "snapshots_refused": ("has its snapshots refused",
                          "Veracity refused the connector's snapshots; the reason is below "
                          "and on the Profile page."),
    "update_available": ("can be updated",
                         "A newer connector version is available; the connector updates "
                         "itself, or download it from the Profile page."),
}


@dataclass(frozen=True)
class Message:
    """One alert, rendered for every channel."""

    event: str
    kind: str
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


def incident_message(event: str, incident: AlertIncident, connector: Connector,
                     now: datetime, base_url: str | None) -> Message:
    """The "opened" or "resolved" message of `incident`."""
    headline, step = WHAT.get(incident.kind, (incident.kind, ""))
    name = connector.hostname
    page = (base_url or "") + PAGE_PATH
    if event == OPENED:
        subject = f"Veracity: connector on {name} {headline}"
        lines = [f"The Veracity connector on {name} {headline}.", "",
                 incident.detail, "", step, "", f"Since: {iso_utc(incident.started_at)}"]
    else:
        subject = f"Resolved — Veracity: connector on {name} {headline}"
        ended = incident.resolved_at or now
        lines = [f"Resolved: the Veracity connector on {name} no longer "
                 f"{headline_past(incident.kind)}.",
                 "", f"From {iso_utc(incident.started_at)} to {iso_utc(ended)} "
                 f"({duration_words(ended - incident.started_at)})."]
    lines += ["", f"Profile → IBKR Integration: {page}", "",
              "You get this because alerts are on in your Veracity profile; change or snooze "
              "them there."]
    payload = {
        "type": f"connector.alert.{event}",
        "timestamp": iso_utc(now),
        "data": {
            "incident_id": incident.id, "kind": incident.kind, "status": event,
            "connector_id": connector.id, "hostname": name, "detail": incident.detail,
            "started_at": iso_utc(incident.started_at),
            "resolved_at": iso_utc(incident.resolved_at), "url": page,
        },
    }
    return Message(event, incident.kind, subject, "\n".join(lines).strip() + "\n", payload)


def test_message(now: datetime, base_url: str | None) -> Message:
    """The message of the page's "Send test" button."""
    page = (base_url or "") + PAGE_PATH
    text = ("This is a test alert from Veracity. When a connector needs you, alerts come "
            f"this way.\n\nProfile → IBKR Integration: {page}\n")
    return Message(TEST, "test", "Veracity: test alert", text,
                   {"type": "test", "timestamp": iso_utc(now),
                    "data": {"message": "This is a test alert from Veracity.", "url": page}})


def headline_past(kind: str) -> str:
    """The condition as something that has stopped ("is silent" → "is silent")."""
    return {"silent": "is silent", "gateway_login": "needs an IBKR login",
            "competing": "is blocked by another IBKR session",
            "key_refused": "uses a revoked key", "snapshots_refused": "has snapshots refused",
            "update_available": "needs an update"}.get(kind, kind)


def duration_words(span: Any) -> str:
    """A duration as "2 h 5 min" / "40 s"."""
    seconds = max(0, int(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"
