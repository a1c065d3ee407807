"""The Profile page's alert API: settings, the webhook secret (shown once), test sends, log.

    GET  /api/v1/profile/alerts                 settings and the latest deliveries
    PUT  /api/v1/profile/alerts                 change the settings (every field)
    POST /api/v1/profile/alerts/webhook-secret  a new signing secret, answered once
    POST /api/v1/profile/alerts/test            queue a test message on one channel

Test messages go through the worker like every alert (the web process never waits on an SMTP
server or a webhook receiver); the page shows their outcome from the delivery log.
The blueprint also notes revoked keys still in use (key_refusals.py) after 401 answers.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict

from veracity_server.alerts import deliveries, key_refusals, messages
from veracity_server.alerts.delivery_webhook import url_problem
from veracity_server.alerts.model import AlertDelivery, AlertSettings
from veracity_server.alerts.preferences import (
    AlertSettingsChange,
    AlertSettingsView,
    default_settings,
    new_webhook_secret,
    schedule_of,
    settings_for,
    view_of,
)
from veracity_server.alerts.schedule import describe, parse_clock
from veracity_server.auth.guards import current_user_id, require_user
from veracity_server.columns import iso_utc, utc_now
from veracity_server.db import get_session
from veracity_server.errors import ApiError, InvalidRequest, NotAuthenticated
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.requests_json import parse_body
from veracity_server.settings import Settings, current_settings

blueprint = Blueprint("alerts", __name__)
blueprint.after_app_request(key_refusals.note_after_request)

EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}")
RECENT_DELIVERIES = 20


class DeliveryView(BaseModel):
    """One row of the delivery log."""

    id: int
    created_at: str | None
    event: str
    channel: str
    target: str
    subject: str
    status: str
    attempts: int
    last_attempt_at: str | None
    next_attempt_at: str | None
    sent_at: str | None
    last_status_code: int | None
    last_error: str | None


class AlertsAnswer(BaseModel):
    """The alert settings and the latest deliveries."""

    settings: AlertSettingsView
    schedule_text: str
    deliveries: list[DeliveryView]


class WebhookSecretAnswer(BaseModel):
    """A new webhook signing secret: shown this once."""

    secret: str


class TestRequest(BaseModel):
    """Which channel to send a test message on."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "webhook"]


class TestAnswer(BaseModel):
    """The queued test delivery (the worker sends it; its row shows how it went)."""

    delivery: DeliveryView


def delivery_view(row: AlertDelivery) -> DeliveryView:
    """A delivery as the API shows it (the body stays in the database)."""
    return DeliveryView(
        id=row.id, created_at=iso_utc(row.created_at), event=row.event, channel=row.channel,
        target=row.target, subject=row.subject, status=row.status, attempts=row.attempts,
        last_attempt_at=iso_utc(row.last_attempt_at),
        next_attempt_at=iso_utc(row.next_attempt_at), sent_at=iso_utc(row.sent_at),
        last_status_code=row.last_status_code, last_error=row.last_error)


def alerts_answer(user_id: int, settings: Settings) -> AlertsAnswer:
    """What GET answers (and what the page renders)."""
    session = get_session()
    stored = settings_for(session, user_id, utc_now())
    return AlertsAnswer(
        settings=view_of(stored, email_available=bool(settings.smtp_host),
                         min_threshold_s=settings.alerts_min_threshold_s),
        schedule_text=describe(schedule_of(stored)),
        deliveries=[delivery_view(row) for row in
                    deliveries.recent(session, user_id, RECENT_DELIVERIES)])


@blueprint.get("/api/v1/profile/alerts")
def get_alerts() -> ResponseReturnValue:
    """The user's alert settings and latest deliveries."""
    user_id = require_user()
    return jsonify(alerts_answer(user_id, current_settings()).model_dump())


def _check_change(change: AlertSettingsChange, settings: Settings) -> None:
    """What the model alone cannot say: thresholds, addresses, a URL we would call."""
    for name in ("silent_after_s", "login_after_s", "competing_after_s"):
        if getattr(change, name) < settings.alerts_min_threshold_s:
            raise InvalidRequest(f"{name}: must be at least {settings.alerts_min_threshold_s} "
                                 f"seconds")
    if change.email_address and not EMAIL_PATTERN.fullmatch(change.email_address):
        raise InvalidRequest("email_address: not an e-mail address")
    if change.email_enabled and not change.email_address:
        raise InvalidRequest("email_address: give the address to send alerts to")
    if change.webhook_url:
        problem = url_problem(change.webhook_url, settings.alerts_webhook_allow_private,
                              resolve=False)
        if problem:
            raise InvalidRequest(f"webhook_url: {problem}")
    if change.webhook_enabled and not change.webhook_url:
        raise InvalidRequest("webhook_url: give the URL to send webhooks to")
    if change.schedule_kind == "custom":
        if not change.schedule_days:
            raise InvalidRequest("schedule_days: choose at least one day")
        if parse_clock(change.schedule_start) == parse_clock(change.schedule_end):
            raise InvalidRequest("schedule_end: must differ from schedule_start")


@blueprint.put("/api/v1/profile/alerts")
def put_alerts() -> ResponseReturnValue:
    """Change the user's alert settings."""
    user_id = require_user()
    change = parse_body(AlertSettingsChange)
    settings = current_settings()
    _check_change(change, settings)
    session = get_session()
    now = utc_now()
    stored = session.get(AlertSettings, user_id)
    if stored is None:
        stored = default_settings(user_id, now)
        session.add(stored)
    if change.webhook_enabled and not stored.webhook_secret:
        raise InvalidRequest("webhook_enabled: generate a signing secret first")
    values: dict[str, Any] = change.model_dump()
    values["schedule_days"] = ",".join(str(day) for day in sorted(set(change.schedule_days)))
    values["email_address"] = change.email_address or None
    values["webhook_url"] = change.webhook_url or None
    for name, value in values.items():
        setattr(stored, name, value)
    stored.updated_at = now
    session.commit()
    return jsonify(alerts_answer(user_id, settings).model_dump())


@blueprint.post("/api/v1/profile/alerts/webhook-secret")
def make_webhook_secret() -> ResponseReturnValue:
    """A new webhook signing secret (replaces any earlier one; shown only in this answer)."""
    user_id = require_user()
    session = get_session()
    stored = session.get(AlertSettings, user_id)
    if stored is None:
        stored = default_settings(user_id, utc_now())
        session.add(stored)
    secret = new_webhook_secret()
    stored.webhook_secret = secret
    stored.updated_at = utc_now()
    session.commit()
    return jsonify(WebhookSecretAnswer(secret=secret).model_dump()), 201


class ChannelNotReady(ApiError):
    """The channel has no address (or secret) to send a test to."""

    status, code = 409, "channel_not_ready"


@blueprint.post("/api/v1/profile/alerts/test")
def send_test() -> ResponseReturnValue:
    """Queue a test message on one channel (sent by the alerts worker within seconds)."""
    user_id = require_user()
    body = parse_body(TestRequest)
    settings = current_settings()
    session = get_session()
    now = utc_now()
    stored = session.get(AlertSettings, user_id)
    if body.channel == "email" and not settings.smtp_host:
        raise ChannelNotReady("E-mail is not set up on this Veracity server.")
    queued = [] if stored is None else deliveries.queue(
        session, stored, messages.test_message(now, settings.public_url), now,
        channels=(body.channel,), only_enabled=False)
    if not queued:
        raise ChannelNotReady("Save an e-mail address first." if body.channel == "email"
                              else "Save a webhook URL and generate its secret first.")
    session.commit()
    return jsonify(TestAnswer(delivery=delivery_view(queued[0])).model_dump()), 202


def page_alerts() -> dict[str, Any] | None:
    """The alert card's data for the page template (None when nobody is signed in)."""
    try:
        user_id = current_user_id()
    except NotAuthenticated:
        return None
    answer = alerts_answer(user_id, current_settings())
    return {"answer": answer, "weekdays": list(enumerate(
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")))}


@blueprint.app_template_filter("alert_time")
def alert_time(iso: str | None) -> str:
    """"2026-12-07T15:04:05.123Z" → "2026-12-07 15:04:05 UTC" (the delivery log's times)."""
    return f"{iso[:19].replace('T', ' ')} UTC" if iso else "—"


@blueprint.app_context_processor
def alert_card_context() -> dict[str, Any]:
    """Templates call `alert_card()` to render the alert card (only the page does)."""
    return {"alert_card": page_alerts}


NOT_LOGGED_IN = error_response("Not logged in")
CSRF_FAILED = error_response("Missing or wrong X-CSRF-Token")

declare_operations(blueprint, [
    Operation("GET", "/api/v1/profile/alerts", "Alert settings and recent deliveries",
              tag="alerts", security="session",
              responses={200: Response("Settings (the webhook secret only as set or not) and "
                                       "the latest deliveries", AlertsAnswer),
                         401: NOT_LOGGED_IN}),
    Operation("PUT", "/api/v1/profile/alerts", "Change the alert settings", tag="alerts",
              security="session", csrf=True, request_model=AlertSettingsChange,
              responses={200: Response("The settings as saved", AlertsAnswer),
                         400: error_response("A field is missing or wrong (named)"),
                         401: NOT_LOGGED_IN, 403: CSRF_FAILED,
                         413: error_response("Body too large")}),
    Operation("POST", "/api/v1/profile/alerts/webhook-secret",
              "Generate the webhook signing secret (shown once)", tag="alerts",
              security="session", csrf=True,
              responses={201: Response("The new secret", WebhookSecretAnswer),
                         401: NOT_LOGGED_IN, 403: CSRF_FAILED}),
    Operation("POST", "/api/v1/profile/alerts/test", "Send a test alert on one channel",
              tag="alerts", security="session", csrf=True, request_model=TestRequest,
              description="Queued for the alerts worker; the delivery log shows the outcome.",
              responses={202: Response("Queued", TestAnswer),
                         400: error_response("Malformed body"), 401: NOT_LOGGED_IN,
                         403: CSRF_FAILED, 409: error_response("The channel is not set up"),
                         413: error_response("Body too large")}),
])

