"""What `ibkr-connector status` reports: the running engine's status, or what is known without.

A running engine (tray or `run`) holds the data folder's instance lock and keeps `status.json`
fresh; without one, the state comes from whether a key is stored. A status file that looks
fresh while nobody holds the lock was left by a process that was killed: reported as not
running. The report never contains the key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from veracity_connector.credentials import CredentialError, open_credential_store
from veracity_connector.instance_lock import InstanceOwner
from veracity_connector.settings import Folders, Settings
from veracity_connector.state import DEFAULT_MESSAGES, ConnectorState
from veracity_connector.status_file import RecordedStatus

NOT_RUNNING = "not_running"


def describe_status(settings: Settings, folders: Folders, recorded: RecordedStatus | None,
                    owner: InstanceOwner | None) -> dict[str, Any]:
    """The status report as a dict; `lines` holds (label, value) pairs for people.

    `owner`: who holds the data folder's instance lock now (None: nobody runs the connector).
    """
    key_store = ""
    key_problem = ""
    try:
        credentials = open_credential_store(settings.key_store, folders.data_dir)
        key_store = credentials.description
        paired = credentials.get() is not None
    except CredentialError as error:
        paired = False
        key_problem = str(error)
    # The instance lock says whether the process lives (the file's age would mislead after a
    # wall-clock jump); the file whether its engine still runs in it.
    running = owner is not None and recorded is not None and not recorded.marked_stopped
    # Not marked stopped, yet nobody holds the lock: the process was killed or crashed.
    died = owner is None and recorded is not None and not recorded.marked_stopped
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
        "engine_pid": (owner.pid or recorded.pid) if running and owner and recorded else None,
        "engine_started_at": owner.started_at if running and owner else None,
        "engine_died": died,
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
        ("Connector", _process_line(report, recorded)),
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


def _process_line(report: dict[str, Any], recorded: RecordedStatus | None) -> str:
    if report["engine_running"]:
        started = report["engine_started_at"]
        return f"running (pid {report['engine_pid']}" + (f", started {started})" if started
                                                          else ")")
    if report["engine_died"] and recorded is not None:
        return (f"not running (pid {recorded.pid} ended without stopping cleanly; its last "
                "state is not current)")
    return "not running"


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
