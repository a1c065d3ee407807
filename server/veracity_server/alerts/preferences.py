"""Each user's alert settings: defaults, reading, validated changes, the webhook secret.

The webhook secret is made by Veracity (`whsec_` + 32 random bytes, base64, as Standard Webhooks
describes), shown once in the answer that creates it, and afterwards only said to exist.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, field_validator
from sqlalchemy.orm import Session

from veracity_server.alerts.model import AlertSettings
from veracity_server.alerts.schedule import NYSE, Schedule, parse_clock, parse_days, zone
from veracity_server.columns import iso_utc

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 — the scheme's public prefix
WEBHOOK_SECRET_BYTES = 32
DEFAULT_SILENT_AFTER_S = 15 * 60
DEFAULT_LOGIN_AFTER_S = 5 * 60
DEFAULT_COMPETING_AFTER_S = 30 * 60
MAX_THRESHOLD_S = 7 * 24 * 3600
DEFAULT_DAYS = "0,1,2,3,4"
DEFAULT_START, DEFAULT_END = "09:30", "16:00"
DEFAULT_TIMEZONE = "America/New_York"

Clock = Annotated[str, StringConstraints(pattern=r"^[0-2][0-9]:[0-5][0-9]$")]
# JSON's own types only: "5" is not a number of seconds, nor "true" a yes (as in the contract).
StrictBool = Annotated[bool, Strict()]
Seconds = Annotated[int, Strict(), Field(ge=1, le=MAX_THRESHOLD_S)]


def new_webhook_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form (`whsec_` + base64)."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(
        secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode("ascii")


def default_settings(user_id: int, now: datetime) -> AlertSettings:
    """A user's settings before they chose any: no channel, NYSE hours, default thresholds."""
    return AlertSettings(
        user_id=user_id, email_enabled=False, email_address=None, webhook_enabled=False,
        webhook_url=None, webhook_secret=None, silent_after_s=DEFAULT_SILENT_AFTER_S,
        login_after_s=DEFAULT_LOGIN_AFTER_S, competing_after_s=DEFAULT_COMPETING_AFTER_S,
        update_alerts=True, schedule_kind=NYSE, schedule_days=DEFAULT_DAYS,
        schedule_start=DEFAULT_START, schedule_end=DEFAULT_END,
        schedule_timezone=DEFAULT_TIMEZONE, snoozed_until=None, updated_at=now)


def settings_for(session: Session, user_id: int, now: datetime) -> AlertSettings:
    """The user's stored settings, or (unsaved) defaults."""
    return session.get(AlertSettings, user_id) or default_settings(user_id, now)


def schedule_of(settings: AlertSettings) -> Schedule:
    """The schedule the stored settings describe."""
    return Schedule(settings.schedule_kind, parse_days(settings.schedule_days),
                    parse_clock(settings.schedule_start), parse_clock(settings.schedule_end),
                    settings.schedule_timezone, settings.snoozed_until)


class AlertSettingsChange(BaseModel):
    """What the Profile page sends to change the alert settings (every field, strictly)."""

    model_config = ConfigDict(extra="forbid")

    email_enabled: StrictBool
    email_address: Annotated[str, StringConstraints(max_length=320)] | None = None
    webhook_enabled: StrictBool
    webhook_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    silent_after_s: Seconds
    login_after_s: Seconds
    competing_after_s: Seconds
    update_alerts: StrictBool
    schedule_kind: Literal["nyse", "custom", "always"]
    schedule_days: Annotated[list[Annotated[int, Strict(), Field(ge=0, le=6)]],
                             Field(max_length=7)]
    schedule_start: Clock
    schedule_end: Clock
    schedule_timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    snoozed_until: datetime | None = None

    @field_validator("schedule_start", "schedule_end")
    @classmethod
    def _a_clock_time(cls, text: str) -> str:
        parse_clock(text)
        return text

    @field_validator("schedule_timezone")
    @classmethod
    def _a_known_zone(cls, name: str) -> str:
        zone(name)
        return name

    @field_validator("snoozed_until")
    @classmethod
    def _aware(cls, moment: datetime | None) -> datetime | None:
        if moment is not None and moment.tzinfo is None:
            raise ValueError("give a time zone (e.g. a trailing Z for UTC)")
        return moment


class AlertSettingsView(BaseModel):
    """The alert settings as the API shows them (the webhook secret only as 'set or not')."""

    email_enabled: bool
    email_address: str | None
    email_available: bool
    webhook_enabled: bool
    webhook_url: str | None
    webhook_secret_set: bool
    silent_after_s: int
    login_after_s: int
    competing_after_s: int
    update_alerts: bool
    schedule_kind: str
    schedule_days: list[int]
    schedule_start: str
    schedule_end: str
    schedule_timezone: str
    snoozed_until: str | None
    min_threshold_s: int


def view_of(settings: AlertSettings, *, email_available: bool,
            min_threshold_s: int) -> AlertSettingsView:
    """The API's view of `settings`."""
    return AlertSettingsView(
        email_enabled=settings.email_enabled, email_address=settings.email_address,
        email_available=email_available, webhook_enabled=settings.webhook_enabled,
        webhook_url=settings.webhook_url, webhook_secret_set=bool(settings.webhook_secret),
        silent_after_s=settings.silent_after_s, login_after_s=settings.login_after_s,
        competing_after_s=settings.competing_after_s, update_alerts=settings.update_alerts,
        schedule_kind=settings.schedule_kind,
        schedule_days=sorted(parse_days(settings.schedule_days)),
        schedule_start=settings.schedule_start, schedule_end=settings.schedule_end,
        schedule_timezone=settings.schedule_timezone,
        snoozed_until=iso_utc(settings.snoozed_until), min_threshold_s=min_threshold_s)
