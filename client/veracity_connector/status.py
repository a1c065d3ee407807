"""What `ibkr-connector status` reports: the running engine's status, or what is known without.

A running engine (tray or `run`) keeps `status.json` fresh; without one, the state comes from
whether a key is stored. The report never contains the key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from veracity_connector.credentials import CredentialError, open_credential_store
from veracity_connector.settings import Folders, Settings
from veracity_connector.state import DEFAULT_MESSAGES, ConnectorState
from veracity_connector.status_file import RecordedStatus

NOT_RUNNING = "not_running"


def describe_status(settings: Settings, folders: Folders,
                    recorded: RecordedStatus | None) -> dict[str, Any]:
    """The status report as a dict; `lines` holds (label, value) pairs for people."""
    key_store = ""
    key_problem = ""
    try:
        credentials = open_credential_store(settings.key_store, folders.data_dir)
        key_store = credentials.description
        paired = credentials.get() is not None
    except CredentialError as error:
        paired = False
        key_problem = str(error)
    running = recorded is not None and recorded.engine_running
    last = recorded.status if recorded is not None else {}
    if running:
        state, message, next_step = last["state"], last["message"], last["next_step"]
    elif key_problem:
        state, message = ConnectorState.ERROR.value, key_problem
        next_step = "Choose a key store (see the message), then pair again."
    elif not paired:
        state = ConnectorState.NEEDS_TOKEN.value
        message, next_step = DEFAULT_MESSAGES[ConnectorState.NEEDS_TOKEN]
    else:
        state = NOT_RUNNING
        message = "Paired with Veracity, but the connector is not running."
        next_step = "Start it: the tray app, or `ibkr-connector run`."
    report: dict[str, Any] = {
        "state": state,
        "message": message,
        "next_step": next_step,
        "engine_running": running,
        "engine_pid": recorded.pid if running and recorded else None,
        "paired": paired,
        "key_store": key_store,
        "veracity_url": settings.veracity_url,
        "gateway_url": settings.gateway_url,
        "gateway_state": last.get("gateway_state") if running else None,
        "gateway_message": last.get("gateway_message", "") if running else "",
        "last_sync_at": last.get("last_sync_at"),
        "last_snapshot_at": last.get("last_snapshot_at"),
        "pending_snapshots": last.get("pending_snapshots", 0) if running else None,
    }
    gateway = "unknown (connector not running)"
    if running:
        gateway = f"{report['gateway_state'] or 'not checked yet'}"
        if report["gateway_message"]:
            gateway += f" — {report['gateway_message']}"
    report["lines"] = [
        ("State", f"{state} — {message}"),
        ("Next step", next_step),
        ("Connector", f"running (pid {report['engine_pid']})" if running else "not running"),
        ("Paired", ("yes" if paired else "no") + (f" (key in the {key_store})"
                                                  if paired and key_store else "")),
        ("Veracity", settings.veracity_url or "not set"),
        ("Gateway", f"{settings.gateway_url}: {gateway}"),
        ("Last sync", _when(report["last_sync_at"])),
        ("Last snapshot", _when(report["last_snapshot_at"])),
    ]
    if running:
        report["lines"].append(("Waiting to send", f"{report['pending_snapshots']} snapshot(s)"))
    return report


def _when(value: str | None) -> str:
    if not value:
        return "never"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    ago = f"{seconds} s" if seconds < 120 else (
        f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h")
    return f"{moment.isoformat(timespec='seconds')} ({ago} ago)"
