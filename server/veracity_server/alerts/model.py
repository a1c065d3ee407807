"""The alert tables: each user's alert settings, incidents per connector, and deliveries.

State moves by conditional UPDATEs (`... WHERE notified_at IS NULL`, row count 1 wins), the way
healthchecks' `sendalerts` claims its flips, so any number of worker processes may run the same
pass and each incident still sends one "opened" and one "resolved" per channel. At most one open
incident per connector and kind is a partial unique index, so two passes racing to open the
same incident store one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from veracity_server.columns import UtcDateTime
from veracity_server.models import Base

# What Veracity notices per connector (docs/alerts.md describes each).
KINDS = ("silent", "gateway_login", "competing", "key_refused", "snapshots_refused",
         "update_available")
CHANNELS = ("email", "webhook")
# Delivery states: waiting for its (next) attempt, being sent by a worker (until its lease
# ends), delivered, or given up after the last retry (or a permanent refusal such as 410).
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class AlertSettings(Base):
    """One user's alert choices: channels, thresholds, schedule and snooze."""

    __tablename__ = "alert_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    email_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # `whsec_...`: needed in clear to sign each delivery; shown to the user once, when made.
    webhook_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    silent_after_s: Mapped[int] = mapped_column(Integer)
    login_after_s: Mapped[int] = mapped_column(Integer)
    competing_after_s: Mapped[int] = mapped_column(Integer)
    update_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    # "nyse": regular NYSE sessions (exchange-calendars XNYS); "custom": the days and hours
    # below in `schedule_timezone`; "always".
    schedule_kind: Mapped[str] = mapped_column(String(16))
    schedule_days: Mapped[str] = mapped_column(String(20))  # "0,1,2,3,4" (Monday is 0)
    schedule_start: Mapped[str] = mapped_column(String(5))  # "09:30"
    schedule_end: Mapped[str] = mapped_column(String(5))  # "16:00"
    schedule_timezone: Mapped[str] = mapped_column(String(64))
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertIncident(Base):
    """One stretch of one condition on one connector, from its start to its end.

    `started_at` is when the condition began (the last heartbeat, for a silent connector);
    `notified_at` when its "opened" messages were queued (None: not yet — below the threshold,
    or outside the user's schedule); `resolved_at` when it ended; `resolve_notified_at` when
    its "resolved" messages were queued (only ever after an "opened" one).
    """

    __tablename__ = "alert_incidents"
    __table_args__ = (
        Index("uq_alert_incidents_open", "connector_id", "kind", unique=True,
              sqlite_where=text("resolved_at IS NULL"),
              postgresql_where=text("resolved_at IS NULL")),
        Index("ix_alert_incidents_user_started", "user_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolve_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AlertDelivery(Base):
    """One message to one channel (e-mail or webhook), with its retry state: the delivery log.

    `message_id` is the webhook's `webhook-id` (the same for every retry, so a receiver can drop
    repeats); `body` the exact bytes sent (signatures cover bytes, never a re-serialization).
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_incidents.id", ondelete="CASCADE"), nullable=True)  # None: a test
    event: Mapped[str] = mapped_column(String(16))  # opened | resolved | test
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    target: Mapped[str] = mapped_column(String(2000))  # the address or URL it went to
    message_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # A worker sending it holds it until then; a worker that died mid-send frees it this way.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlertKeyRefusal(Base):
    """A revoked connector's key still being used: when it was last refused, and how often."""

    __tablename__ = "alert_key_refusals"

    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"),
                                              primary_key=True)
    first_refused_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_refused_at: Mapped[datetime] = mapped_column(UtcDateTime)
    refusals: Mapped[int] = mapped_column(Integer, default=1)


class AlertLease(Base):
    """A named lease one worker holds at a time: a pass runs once however many workers run."""

    __tablename__ = "alert_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime] = mapped_column(UtcDateTime)


# APScheduler's SQLAlchemyJobStore table, created by the migration (not by the store at start,
# which several workers starting at once would race for).
APSCHEDULER_TABLE = "apscheduler_jobs"


class SchedulerJob(Base):
    """APScheduler 3's job store row (its own layout: id, next_run_time, pickled job_state)."""

    __tablename__ = APSCHEDULER_TABLE

    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True, nullable=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
