"""The Profile page's per-connector health summary and audit log ("Activity").

Health comes from the connector's last heartbeat (its own `doctor` checks, refreshed every few
minutes); it is shown in the polled connectors region, problems first with their fix lines. The
audit log is its own region, rendered with the page and not polled (reading older pages with
"More" must not be undone by a refresh): the first page here, the next ones from
`GET /profile/ibkr/fragments/events/<connector_id>?cursor=...` (pages/views.py), which
`activity.js` appends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import url_for
from sqlalchemy import select

from veracity_server.audit import AuditEvent, list_events
from veracity_server.audit.views import stored_health
from veracity_server.db import get_session
from veracity_server.models import Connector
from veracity_server.pages.formatting import iso, short_datetime, time_ago

PAGE_EVENTS = 10  # events per connector on the page and per "More"
LEVEL_ORDER = {"fail": 0, "warn": 1, "ok": 2}
LEVEL_WORDS = {"fail": "Failing", "warn": "Warning", "ok": "OK"}
GATEWAY_STATE_WORDS = {
    "ok": "connected and logged in",
    "unauthenticated": "needs a login",
    "competing": "in use by another IBKR session",
    "unreachable": "not reachable",
    "error": "reported an error",
}


def health_view(stored: str | None, now: datetime) -> dict[str, Any] | None:
    """What the page says about a connector's health summary (None: it sent none yet)."""
    summary = stored_health(stored)
    if summary is None:
        return None
    checks = [check for check in summary.get("checks", []) if isinstance(check, dict)]
    problems = sorted((check for check in checks if check.get("level") in ("fail", "warn")),
                      key=lambda check: LEVEL_ORDER.get(str(check.get("level")), 3))
    worst = problems[0]["level"] if problems else "ok"
    return {
        "tone": {"fail": "error", "warn": "warn"}.get(worst, "ok"),
        "headline": _headline(problems, len(checks)),
        "checked_ago": time_ago(summary.get("checked_at"), now),
        "checked_iso": iso(summary.get("checked_at")),
        "problems": [{"name": check.get("name", ""), "level": check.get("level"),
                      "level_words": LEVEL_WORDS.get(str(check.get("level")), ""),
                      "message": check.get("message", ""), "fix": check.get("fix", "")}
                     for check in problems],
        "ok_names": [str(check.get("name", "")) for check in checks
                     if check.get("level") == "ok"],
    }


def _headline(problems: list[dict[str, Any]], total: int) -> str:
    failing = sum(1 for check in problems if check.get("level") == "fail")
    warnings = len(problems) - failing
    if not problems:
        return f"All {total} checks pass" if total else "No checks reported"
    parts = ([f"{failing} failing"] if failing else []) + (
        [f"{warnings} warning{'s' if warnings != 1 else ''}"] if warnings else [])
    return f"{', '.join(parts)} of {total} checks"


def health_by_connector(user_id: int, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Each of the user's connectors' health view, by connector id (those that sent one)."""
    now = now or datetime.now(UTC)
    rows = get_session().execute(select(Connector.id, Connector.health).where(
        Connector.user_id == user_id, Connector.health.is_not(None))).all()
    views = {row.id: health_view(row.health, now) for row in rows}
    return {connector_id: view for connector_id, view in views.items() if view is not None}


def _pairs(detail: dict[str, Any], *skip: str) -> str:
    return ", ".join(f"{key}: {value}" for key, value in detail.items()
                     if key not in skip and value not in (None, ""))


def event_words(event: AuditEvent) -> tuple[str, str]:
    """(title, text) of one audit-log event, in the product's words."""
    detail = event.detail
    if event.kind == "paired":
        where = detail.get("hostname") or "a computer"
        extra = ", ".join(str(value) for value in (detail.get("platform"),
                                                   detail.get("ip") and f"IP {detail['ip']}")
                          if value)
        return "Paired", f"from {where}" + (f" ({extra})" if extra else "")
    if event.kind == "new_ip":
        return "Key used from a new IP address", str(detail.get("ip") or "")
    if event.kind == "revoked":
        return "Revoked", "its key no longer works"
    if event.kind == "session_state":
        state = str(detail.get("state") or "")
        words = GATEWAY_STATE_WORDS.get(state, state)
        message = detail.get("message") or ""
        return f"Gateway session {words}", str(message)
    if event.kind == "alert_sent":
        return "Alert sent", _pairs(detail)
    if event.kind == "refusal":
        return "Snapshot refused", (f"{detail.get('message') or ''} ({detail.get('code')}, "
                                    f"HTTP {detail.get('status')})").strip()
    return event.kind.replace("_", " ").capitalize(), _pairs(detail)


def event_view(event: AuditEvent, now: datetime) -> dict[str, Any]:
    """Display text for one event."""
    title, text = event_words(event)
    return {"id": event.id, "kind": event.kind, "title": title, "text": text,
            "iso": iso(event.at), "full": short_datetime(event.at),
            "ago": time_ago(event.at, now)}


def events_view(connector_id: str, cursor: str | None, now: datetime) -> dict[str, Any]:
    """A page of a connector's events and the address of the next page (None at the end)."""
    page = list_events(get_session(), connector_id, cursor, PAGE_EVENTS)
    return {
        "connector_id": connector_id,
        "events": [event_view(event, now) for event in page.events],
        "more_url": url_for("pages.events_fragment", connector_id=connector_id,
                            cursor=page.next_cursor) if page.next_cursor else None,
    }


def activity_for(connectors: list[dict[str, Any]],
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """The activity region: each connector (as the page lists them) with its first page."""
    now = now or datetime.now(UTC)
    return [{"hostname": connector["hostname"], "revoked": connector["revoked"],
             **events_view(str(connector["id"]), None, now)} for connector in connectors]
