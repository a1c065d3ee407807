"""Pairing state changes, each one short transaction: issue, consume (exactly once), revoke."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.orm import Session

from veracity_server.columns import iso_utc, utc_now
from veracity_server.credentials import new_connector_key, new_pairing_token, secret_hash
from veracity_server.errors import NotFound, TokenExpired, TokenInvalid, TokenUsed
from veracity_server.models import (
    PENDING_KEY_PREFIX,
    Connector,
    ConnectorKeyCandidate,
    PairingToken,
    User,
    pending_key_marker,
)
from veracity_server.settings import DEFAULT_PAIRING_TOKENS_PER_USER

# A connector is "online" while its last heartbeat is younger than this many intervals: one
# missed beat (network hiccup, sleep) must not flap the status.
ONLINE_INTERVALS = 2.5


def issue_pairing_token(session: Session, user_id: int, ttl_s: int, *,
                        max_valid: int = DEFAULT_PAIRING_TOKENS_PER_USER) -> tuple[str, datetime]:
    """Create a one-time token for `user_id`; returns it (shown once) and its expiry.

    A user holds at most `max_valid` valid tokens (VERACITY_PAIRING_TOKENS_PER_USER): the new one
    retires the oldest beyond that (they expire now; exchanging one answers token_expired). A
    token is a key to the account until it is used, so forgotten ones must not pile up.
    """
    token = new_pairing_token()
    now = utc_now()
    expires_at = now + timedelta(seconds=ttl_s)
    # Lock the user's row (PostgreSQL; SQLite has one writer anyway) so two tokens issued at
    # the same moment cannot both count the other out and leave one too many.
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    session.add(PairingToken(user_id=user_id, token_hash=secret_hash(token), created_at=now,
                             expires_at=expires_at))
    session.flush()
    newest = (select(PairingToken.id)
              .where(PairingToken.user_id == user_id, PairingToken.used_at.is_(None),
                     PairingToken.expires_at > now)
              .order_by(PairingToken.id.desc()).limit(max_valid))
    session.execute(
        update(PairingToken)
        .where(PairingToken.user_id == user_id, PairingToken.used_at.is_(None),
               PairingToken.expires_at > now, PairingToken.id.not_in(newest.scalar_subquery()))
        .values(expires_at=now)
        .execution_options(synchronize_session=False))
    session.commit()
    return token, expires_at


@dataclass(frozen=True)
class Exchanged:
    """A successful exchange: the connector, its key (shown once) and the account's public id."""

    connector: Connector
    key: str
    account_id: str


def consume_pairing_token(session: Session, token: str, hostname: str, platform: str,
                          connector_version: str,
                          idempotency_key: str | None = None) -> Exchanged:
    """Exchange `token` for a new connector and its key; exactly one caller can ever win.

    One conditional UPDATE decides the winner (the database serializes it); losers look the
    row up afterwards only to say why they lost. A loser that repeats the winner's
    `idempotency_key` within the token's lifetime is the winner whose answer was lost: it gets
    the same connector with another key (`_repeat_exchange`).

    The connector starts with no usable key, only the answered one as a candidate: the first
    key it authenticates with becomes its key (veracity_server/pairing/keys.py).
    """
    token_hash = secret_hash(token)
    attempt_hash = secret_hash(idempotency_key) if idempotency_key else None
    now = utc_now()
    connector_id = str(uuid.uuid4())
    won = session.execute(
        update(PairingToken)
        .where(PairingToken.token_hash == token_hash, PairingToken.used_at.is_(None),
               PairingToken.expires_at > now)
        .values(used_at=now, idempotency_key_hash=attempt_hash, connector_id=connector_id)
        .returning(PairingToken.user_id)
    ).first()
    if won is None:
        session.rollback()
        if attempt_hash is not None:
            repeated = _repeat_exchange(session, token_hash, attempt_hash, now)
            if repeated is not None:
                return repeated
        raise _why_token_failed(session, token_hash, now)
    key = new_connector_key()
    # Inserted in the token's transaction: the token is never spent without its connector.
    connector = Connector(id=connector_id, user_id=won.user_id,
                          key_hash=pending_key_marker(connector_id), hostname=hostname,
                          platform=platform, connector_version=connector_version,
                          created_at=now)
    session.add(connector)
    session.flush()
    session.add(ConnectorKeyCandidate(key_hash=secret_hash(key), connector_id=connector_id,
                                      created_at=now))
    session.commit()
    return Exchanged(connector, key, _account_id(session, won.user_id))


def _repeat_exchange(session: Session, token_hash: str, attempt_hash: str,
                     now: datetime) -> Exchanged | None:
    """The same connector with another key for a repeated attempt, or None if it does not
    qualify: only while the token is within its lifetime, the connector not revoked and not yet
    authenticated with any key.

    Repeats can run concurrently (a client gives up on one request and sends another, and keeps
    whichever answer reaches it), so no answer may replace another's key: each adds a candidate,
    and every candidate works until the connector first authenticates with one of them. The
    UPDATE that checks "not yet authenticated" also locks the connector's row, so the first
    authentication (which moves `key_hash` off the marker under the same row lock) and a repeat
    are serialized: a candidate added after the first authentication is never answered.
    """
    spent_by_attempt = select(PairingToken.connector_id).where(
        PairingToken.token_hash == token_hash, PairingToken.used_at.is_not(None),
        PairingToken.idempotency_key_hash == attempt_hash,
        PairingToken.expires_at > now).scalar_subquery()
    pending = session.execute(
        update(Connector)
        .where(Connector.id == spent_by_attempt, Connector.revoked_at.is_(None),
               Connector.key_hash == literal(PENDING_KEY_PREFIX) + Connector.id)
        .values(key_hash=Connector.key_hash)  # changes nothing; takes the row's write lock
        .returning(Connector.id)
        .execution_options(synchronize_session=False)
    ).first()
    if pending is None:
        session.rollback()
        return None
    key = new_connector_key()
    session.add(ConnectorKeyCandidate(key_hash=secret_hash(key), connector_id=pending.id,
                                      created_at=now))
    session.commit()
    connector = session.get_one(Connector, pending.id)
    return Exchanged(connector, key, _account_id(session, connector.user_id))


def _account_id(session: Session, user_id: int) -> str:
    return session.scalars(select(User.public_id).where(User.id == user_id)).one()


def _why_token_failed(session: Session, token_hash: str, now: datetime) -> Exception:
    row = session.scalars(select(PairingToken).where(PairingToken.token_hash == token_hash)).first()
    session.rollback()
    if row is None:
        return TokenInvalid()
    if row.used_at is not None:
        return TokenUsed()
    if row.expires_at <= now:
        return TokenExpired()
    # Raced with a consumer that has not committed yet (or rolled back): treat as used.
    return TokenUsed()


def revoke_connector(session: Session, user_id: int, connector_id: str) -> Connector:
    """Revoke one of the user's connectors (idempotent: the first revocation time is kept)."""
    if not _is_uuid(connector_id):
        raise NotFound("No such connector.")
    connector = session.scalars(select(Connector).where(
        Connector.id == connector_id, Connector.user_id == user_id)).first()
    if connector is None:
        raise NotFound("No such connector.")
    if connector.revoked_at is None:
        connector.revoked_at = utc_now()
        session.commit()
    return connector


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def connector_status(connector: Connector, now: datetime, heartbeat_interval_s: int) -> str:
    """online | stale | revoked."""
    if connector.revoked_at is not None:
        return "revoked"
    if connector.last_seen_at is None:
        return "stale"
    age_s = (now - connector.last_seen_at).total_seconds()
    return "online" if age_s <= heartbeat_interval_s * ONLINE_INTERVALS else "stale"


def describe_connector(connector: Connector, now: datetime,
                       heartbeat_interval_s: int) -> dict[str, Any]:
    """The connector as the profile API shows it."""
    gateway = None
    if connector.gateway_state is not None:
        gateway = {"state": connector.gateway_state, "message": connector.gateway_message,
                   "port": connector.gateway_port}
    return {
        "id": connector.id,
        "hostname": connector.hostname,
        "platform": connector.platform,
        "connector_version": connector.connector_version,
        "created_at": iso_utc(connector.created_at),
        "last_seen_at": iso_utc(connector.last_seen_at),
        "last_snapshot_at": iso_utc(connector.last_snapshot_at),
        "reported_last_snapshot_at": iso_utc(connector.reported_last_snapshot_at),
        "revoked_at": iso_utc(connector.revoked_at),
        "uptime_s": connector.uptime_s,
        "status": connector_status(connector, now, heartbeat_interval_s),
        "gateway": gateway,
        "last_refusal": None if connector.last_refusal_at is None else {
            "at": iso_utc(connector.last_refusal_at),
            "status": connector.last_refusal_status,
            "code": connector.last_refusal_code,
            "message": connector.last_refusal_message,
        },
    }


def list_connectors(session: Session, user_id: int,
                    heartbeat_interval_s: int) -> list[dict[str, Any]]:
    """The user's connectors, newest first."""
    now = utc_now()
    connectors = session.scalars(select(Connector).where(Connector.user_id == user_id)
                                 .order_by(Connector.created_at.desc(), Connector.id))
    return [describe_connector(connector, now, heartbeat_interval_s) for connector in connectors]
