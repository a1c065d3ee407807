"""Response bodies of the audit-log API (documentation and schema checks)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from veracity_contract.connector import HealthSummary


class AuditEventOut(BaseModel):
    """One event: kind (paired, new_ip, revoked, session_state, alert_sent, refusal, ...),
    when (ISO 8601 UTC) and its detail (a small flat object)."""

    id: int
    kind: str
    at: str
    detail: dict[str, Any]


class ConnectorEventsAnswer(BaseModel):
    """A page of a connector's audit log, newest first, and its latest health summary."""

    health: HealthSummary | None
    events: list[AuditEventOut]
    next_cursor: str | None
