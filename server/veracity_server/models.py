"""Database tables (SQLAlchemy 2). Secrets are stored only as SHA-256 hashes; money as decimals.

Snapshots are normalized: one `snapshots` row per accepted snapshot, one `snapshot_accounts` row
per account in it (which doubles as the portfolio-value history point), and its positions and stop
orders. The current state of an account is its `snapshot_accounts` row with the newest `taken_at`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
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


class Connector(Base):
    """A paired connector installation; its key (`vck_...`) is stored as its hash."""

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


class Snapshot(Base):
    """One accepted snapshot; (user, snapshot_id) is unique so a replay is stored once."""

    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("user_id", "snapshot_id", name="uq_snapshots_user_snapshot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connector_id: Mapped[str] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), index=True)
    snapshot_id: Mapped[str] = mapped_column(String(36))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SnapshotAccount(Base):
    """One IBKR account inside a snapshot; also one point of the portfolio-value history."""

    __tablename__ = "snapshot_accounts"
    __table_args__ = (
        Index("ix_snapshot_accounts_user_account_taken", "user_id", "account_id", "taken_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_pk: Mapped[int] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True)
    # Copied from the snapshot so "newest state per account" is one indexed query.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    account_id: Mapped[str] = mapped_column(String(64))
    base_currency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    net_liquidation: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    cash: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)


# The contract's fields of a position and of a stop order, in column order: the ingest path
# writes them by these names and the portfolio API reads them back by the same names.
POSITION_DATA_COLUMNS = ("conid", "symbol", "description", "asset_class", "quantity",
                         "market_price", "market_value", "average_cost", "unrealized_pnl",
                         "currency", "multiplier")
STOP_ORDER_DATA_COLUMNS = ("order_id", "conid", "symbol", "side", "order_type", "quantity",
                           "stop_price", "limit_price", "trailing_amount", "trailing_unit",
                           "time_in_force", "status")


class Position(Base):
    """A position of an account at the snapshot's time."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_account_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot_accounts.id", ondelete="CASCADE"), index=True)
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    asset_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    market_price: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    market_value: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    average_cost: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    unrealized_pnl: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    multiplier: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)


class StopOrder(Base):
    """A working stop-type order (stop, stop limit, trailing) at the snapshot's time."""

    __tablename__ = "stop_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_account_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot_accounts.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[str] = mapped_column(String(64))
    conid: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    stop_price: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    trailing_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    trailing_unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    time_in_force: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
