"""The connector audit log: what happened to each connector, newest first.

Stable API for other modules (see docs/architecture.md, "Audit log"):

    from veracity_server import audit
    audit.record_event(target, connector_id, audit.ALERT_SENT, {"alert": "silent", ...})

`target` is a SQLAlchemy `Session` or `Connection` (the caller's transaction commits the event
with its own work) or a `Database` (the event is written in a transaction of its own). `kind`
is one of the constants below or any other short snake_case word (1-32 characters of a-z, 0-9
and "_"); `detail` a small flat JSON object (strings are cut to DETAIL_TEXT_MAX characters;
the page shows its keys and values). `at` defaults to now (aware UTC).
"""

from veracity_server.audit.events import (
    ALERT_SENT,
    NEW_IP,
    PAIRED,
    RECONCILIATION_DIFFERENCE,
    REFUSAL,
    REVOKED,
    SESSION_STATE,
    AuditEvent,
    EventPage,
    detail_json,
    list_events,
    record_event,
)

__all__ = [
    "ALERT_SENT",
    "NEW_IP",
    "PAIRED",
    "RECONCILIATION_DIFFERENCE",
    "REFUSAL",
    "REVOKED",
    "SESSION_STATE",
    "AuditEvent",
    "EventPage",
    "detail_json",
    "list_events",
    "record_event",
]
