"""Database tables (SQLAlchemy 2). Secrets are stored only as SHA-256 hashes; money as decimals.

Snapshots are documents: one `snapshot_documents` row per accepted snapshot holding the validated
body, one `value_points` row per account in it (the chart's series), and on each connector the id
of its newest snapshot (the current state). Retention (veracity_server/history/retention.py)
thins both to the last of each hour, then of each day.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from veracity_server.columns import ExactDecimal, UtcDateTime

HASH_LENGTH = 64  # hex SHA-256


class Base(DeclarativeBase):
    """Declarative base; its metadata is what Alembic migrates."""


class User(Base):
    """A standalone Veracity account (email + argon2 password hash)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("public_id", name="uq_users_public_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What connectors learn about the account (the exchange's `account_id`): opaque, stable,
    # neither the e-mail nor the row number.
    public_id: Mapped[str] = mapped_column(String(36))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserSession(Base):
    """A browser session: the signed cookie holds a random id, this row its hash.

    Deleting the row ends the session wherever its cookie is (a copied cookie stops working):
    logout, "log out other sessions" and a password change do that. `last_seen_at` is moved on
    at most once a minute, for the idle lifetime.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    id_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PairingToken(Base):
    """A one-time pairing token (`vct_...`), stored as its hash, consumed once before it expires."""

    __tablename__ = "pairing_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Set by the exchange that used the token: a retry with the same idempotency key (its
    # answer was lost) gets the same connector back instead of a second one.
    idempotency_key_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH), nullable=True)
    connector_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Connector(Base):
    """A paired connector installation; its key (`vck_...`) is stored as its hash.

    Until the connector first authenticates, `key_hash` is the unusable marker
    `pending_key_marker(id)` and the keys its exchange answered wait in
    `connector_key_candidates`: the first one used becomes `key_hash` (see
    veracity_server/pairing/keys.py).
    """

    __tablename__ = "connectors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    hostname: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(255))
    connector_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_snapshot_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reported_last_snapshot_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    uptime_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gateway_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gateway_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    gateway_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The last snapshot Veracity refused from this connector (shown on the Profile page).
    last_refusal_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_refusal_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_refusal_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_refusal_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The current-state projection, moved in the snapshot's own transaction, only forward:
    # the newest snapshot (by taken_at) and its time.
    current_document_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Bytes of snapshot documents this connector holds (the per-user storage limit sums them).
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # When retention next runs for this connector (claimed by a conditional UPDATE).
    retention_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Moved by the heartbeat's own UPDATE (no extra query; see veracity_server/audit): the
    # client IP of the last authenticated request and when it last changed, when the gateway
    # state last changed, and the connector's health summary (JSON, as the contract checks it).
    last_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    ip_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    gateway_state_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    health: Mapped[str | None] = mapped_column(Text, nullable=True)


PENDING_KEY_PREFIX = "pending:"


def pending_key_marker(connector_id: str) -> str:
    """The `key_hash` of a connector no key has authenticated yet: never a SHA-256 hex digest,
    so no key matches it."""
    return PENDING_KEY_PREFIX + connector_id


class ConnectorKeyCandidate(Base):
    """A key answered by the exchange (or by a repeat of it with the same idempotency key) to a
    connector that has not authenticated yet. Concurrent repeats each answer their own key and
    the client keeps whichever answer reaches it, so each must work; the first one used becomes
    the connector's key and the others are deleted."""

    __tablename__ = "connector_key_candidates"

    key_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"),
                                              index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SnapshotDocument(Base):
    """One accepted snapshot, stored as the validated JSON document it arrived as.

    `(user_id, snapshot_id)` is unique, so a replay is stored once. `level` is what retention
    keeps it for: -1 not looked at yet (as stored), 0 a snapshot like any other, 1 the last of
    its hour, 2 of its four-hour block, 3 of its day (per connector, UTC); see
    veracity_server/history/retention.py.
    """

    __tablename__ = "snapshot_documents"
    __table_args__ = (
        UniqueConstraint("user_id", "snapshot_id", name="uq_snapshot_documents_user_snapshot"),
        Index("ix_snapshot_documents_connector_taken", "connector_id", "taken_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    # The connector's user (no foreign key of its own on PostgreSQL: the connector's cascades,
    # and a check per snapshot locked the user's row; migration 0009).
    user_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    snapshot_id: Mapped[str] = mapped_column(String(36))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    size_bytes: Mapped[int] = mapped_column(Integer)  # of `body` as stored (compressed)
    # The request body as validated (decimals as exact strings or JSON integers, never floats),
    # zlib-compressed: JSON repeats every key for every position, and compresses ~8x.
    body: Mapped[bytes] = mapped_column(LargeBinary)


class ValuePoint(Base):
    """One account's net liquidation at one snapshot: the chart's series, kept as its document."""

    __tablename__ = "value_points"
    __table_args__ = (
        Index("ix_value_points_user_level_taken", "user_id", "level", "taken_at"),
        Index("ix_value_points_connector_taken", "connector_id", "taken_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot_documents.id", ondelete="CASCADE"), index=True)
    # Its document's user and connector, copied for the chart's indexes; the document's foreign
    # key cascades (migration 0009 dropped these two's own on PostgreSQL).
    user_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[str] = mapped_column(String(36))
    account_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    net_liquidation: Mapped[Decimal] = mapped_column(ExactDecimal)



class ConnectorEvent(Base):
    """One entry of a connector's audit log (veracity_server/audit): paired, new IP, revoked,
    gateway state changed, alert sent, snapshot refused... `detail` is a small JSON object."""

    __tablename__ = "connector_events"
    __table_args__ = (Index("ix_connector_events_connector_at", "connector_id", "at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(Text)


class DailyHistoryPoint(Base):
    """One account's NAV at the end of one past day, as the gateway or Flex answered it.

    Daily history (issue 19, docs/history.md): `(user_id, account_id, report_date, source)` is
    unique, so a resend stores nothing new and the first answer stays. It never replaces a
    live snapshot: the chart shows it only for days without live value points, and a day with
    both is reconciled (`ReconciliationDifference`). Retention keeps every one (they are daily
    points already). Flex's end-of-day positions are kept as the validated JSON list,
    zlib-compressed like snapshot documents (`positions` null: not given).
    """

    __tablename__ = "daily_history_points"
    __table_args__ = (
        UniqueConstraint("user_id", "account_id", "report_date", "source",
                         name="uq_daily_history_points_day"),
        Index("ix_daily_history_points_user_date", "user_id", "report_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"),
                                              index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    report_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(8))  # "gateway" or "flex"
    currency: Mapped[str] = mapped_column(String(16))
    nav: Mapped[Decimal] = mapped_column(ExactDecimal)
    position_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    positions: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReconciliationDifference(Base):
    """Where a day's history point and its live end-of-day snapshot disagree.

    `kind`: "nav" (beyond the tolerance of veracity_server/daily_history/reconcile.py),
    "currency" (different base currencies) or "quantity" (Flex positions, per conid). Both
    values are kept; a day's rows are replaced whenever that day is reconciled again.
    """

    __tablename__ = "reconciliation_differences"
    __table_args__ = (
        Index("ix_reconciliation_differences_user_date", "user_id", "report_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"),
                                              index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    report_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    conid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    symbol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    live_value: Mapped[str | None] = mapped_column(String(80), nullable=True)
    history_value: Mapped[str | None] = mapped_column(String(80), nullable=True)
    live_taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
