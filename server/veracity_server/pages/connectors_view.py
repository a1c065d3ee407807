"""What the page says about each paired connector, and which troubleshooting help fits.

Input: connector dicts exactly as `GET /api/v1/profile/ibkr/connectors` returns them. Output:
plain dicts of display text for the templates. The words here are the product's voice: each
problem comes with the next step the person can take on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from veracity_server.pages.formatting import iso, parse_time, short_datetime, time_ago

DEFAULT_GATEWAY_PORT = 5000
# A connector sends its first heartbeat right after pairing; only after this long without one
# is its silence worth a troubleshooting hint.
FIRST_HEARTBEAT_GRACE = timedelta(minutes=5)

STATUS_BADGES = {
    "online": ("Online", "badge-ok"),
    "stale": ("Not responding", "badge-warn"),
    "revoked": ("Revoked", "badge-muted"),
}


@dataclass(frozen=True)
class TroubleshootingTopic:
    """One problem a person can fix alone, with the steps to fix it."""

    key: str
    title: str


# Order = the order on the page. Steps live in the template (`_troubleshooting.html`).
TOPICS = (
    TroubleshootingTopic("invalid-key", "The connector says its key is invalid (401)"),
    TroubleshootingTopic("gateway-login", "The gateway needs you to log in"),
    TroubleshootingTopic("connector-offline", "The connector has stopped reporting"),
    TroubleshootingTopic("port-in-use", "The gateway's port is taken or not answering"),
    TroubleshootingTopic("firewall", "A firewall blocks the connector from the gateway"),
)


def gateway_login_url(port: Any) -> str:
    """The address where the person logs in to their own gateway."""
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = DEFAULT_GATEWAY_PORT
    if not 0 < number < 65536:
        number = DEFAULT_GATEWAY_PORT
    return f"https://localhost:{number}"


def gateway_report(connector: dict[str, Any]) -> dict[str, Any]:
    """The gateway state the connector last reported: state, message, port (any may be None)."""
    gateway = connector.get("gateway")
    if not isinstance(gateway, dict):
        gateway = {"state": connector.get("gateway_state"),
                   "message": connector.get("gateway_message"),
                   "port": connector.get("gateway_port")}
    return {"state": gateway.get("state"), "message": gateway.get("message"),
            "port": gateway.get("port")}


def gateway_words(gateway: dict[str, Any]) -> tuple[str, str | None, str]:
    """(sentence, login URL or None, tone) describing the gateway state for a person."""
    state = gateway.get("state")
    url = gateway_login_url(gateway.get("port"))
    port = url.rsplit(":", 1)[1]
    message = (gateway.get("message") or "").strip()
    if state == "ok":
        return f"Gateway connected and logged in (port {port})", None, "ok"
    if state == "unauthenticated":
        return f"Gateway needs login — open {url} on that machine", url, "warn"
    if state == "competing":
        return (f"Another IBKR session took over — open {url} on that machine and log in "
                "again", url, "warn")
    if state == "unreachable":
        return (f"Gateway not reachable on port {port} — start it, or move the gateway and the "
                "connector to a free port together", None, "error")
    if state == "error":
        detail = f": {message}" if message else ""
        return f"Gateway reported an error{detail}", None, "error"
    return "No gateway report yet — waiting for the connector's first heartbeat", None, "muted"


def awaiting_first_heartbeat(connector: dict[str, Any], now: datetime) -> bool:
    """Just paired and not heard from yet: normal for a minute, not a problem to solve."""
    if connector.get("status") == "revoked" or connector.get("last_seen_at"):
        return False
    created = parse_time(connector.get("created_at"))
    return created is not None and now - created < FIRST_HEARTBEAT_GRACE


def topics_for(connector: dict[str, Any], gateway_state: str | None,
               now: datetime) -> list[str]:
    """Keys of the troubleshooting topics that explain this connector's condition."""
    status = connector.get("status")
    if status == "revoked":
        return ["invalid-key"]
    if status == "stale":
        return [] if awaiting_first_heartbeat(connector, now) else ["connector-offline"]
    if gateway_state in {"unauthenticated", "competing"}:
        return ["gateway-login"]
    if gateway_state == "unreachable":
        return ["port-in-use", "firewall"]
    return []


def connector_view(connector: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Display text for one connector."""
    status = str(connector.get("status") or "stale")
    badge_text, badge_class = STATUS_BADGES.get(status, (status.title(), "badge-muted"))
    if awaiting_first_heartbeat(connector, now):
        badge_text, badge_class = "Starting", "badge-muted"
    gateway = gateway_report(connector)
    sentence, login_url, tone = gateway_words(gateway)
    return {
        "id": connector.get("id"),
        "hostname": connector.get("hostname") or "Unnamed computer",
        "platform": connector.get("platform") or "—",
        "version": connector.get("connector_version") or "—",
        "status": status,
        "badge_text": badge_text,
        "badge_class": badge_class,
        "paired_at": short_datetime(connector.get("created_at")),
        "paired_timestamp": (parse_time(connector.get("created_at")) or now).timestamp(),
        "last_seen_ago": time_ago(connector.get("last_seen_at"), now),
        "last_seen_iso": iso(connector.get("last_seen_at")),
        "last_seen_full": short_datetime(connector.get("last_seen_at")),
        "last_snapshot_ago": time_ago(connector.get("last_snapshot_at"), now),
        "last_snapshot_iso": iso(connector.get("last_snapshot_at")),
        "revoked_at": short_datetime(connector.get("revoked_at")),
        "revoked": status == "revoked",
        "gateway_state": gateway["state"],
        "gateway_sentence": sentence,
        "gateway_login_url": login_url,
        "gateway_tone": tone,
        "topics": topics_for(connector, gateway["state"], now),
        "last_refusal": refusal_words(connector.get("last_refusal"), now),
    }


def refusal_words(refusal: dict[str, Any] | None, now: datetime) -> dict[str, str] | None:
    """The last snapshot Veracity refused from this connector, in words (None if none)."""
    if not refusal:
        return None
    return {
        "sentence": f"{refusal.get('message') or 'Refused.'} "
                    f"({refusal.get('code')}, HTTP {refusal.get('status')})",
        "ago": time_ago(refusal.get("at"), now),
        "iso": iso(refusal.get("at")),
    }


def relevant_revocations(connectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Revoked connectors whose computer has not been paired again since.

    An old connector revoked on purpose, replaced by a new pairing, is not a problem to solve.
    """
    latest_active: dict[str, datetime] = {}
    for item in connectors:
        created = parse_time(item.get("created_at"))
        if item.get("status") != "revoked" and created:
            host = str(item.get("hostname"))
            latest_active[host] = max(created, latest_active.get(host, created))
    result = []
    for item in connectors:
        if item.get("status") != "revoked":
            continue
        revoked = parse_time(item.get("revoked_at")) or datetime.min.replace(tzinfo=UTC)
        replaced = latest_active.get(str(item.get("hostname")))
        if replaced is None or replaced < revoked:
            result.append(item)
    return result


def connectors_page(connectors: list[dict[str, Any]],
                    now: datetime | None = None) -> dict[str, Any]:
    """Everything the connectors region shows: the list and the troubleshooting in context."""
    now = now or datetime.now(UTC)
    unresolved_revocations = {id(item) for item in relevant_revocations(connectors)}
    views = []
    in_context: dict[str, list[dict[str, Any]]] = {}
    for connector in connectors:
        view = connector_view(connector, now)
        if view["revoked"] and id(connector) not in unresolved_revocations:
            view["topics"] = []
        for topic in view["topics"]:
            in_context.setdefault(topic, []).append(
                {"hostname": view["hostname"], "login_url": view["gateway_login_url"]})
        views.append(view)
    # Active connectors first, newest pairing first; revoked ones last.
    views.sort(key=lambda view: (view["revoked"], -view["paired_timestamp"]))
    return {
        "connectors": views,
        "active_count": sum(1 for view in views if not view["revoked"]),
        "topics": [{"key": topic.key, "title": topic.title,
                    "hosts": [host["hostname"] for host in in_context.get(topic.key, [])],
                    "affected": in_context.get(topic.key, [])} for topic in TOPICS],
    }
