"""Ingest state changes: authenticate a connector key, record a heartbeat, store a snapshot.

A heartbeat is ONE small UPDATE of the connector row. A snapshot is stored normalized in one
transaction with bulk inserts; `(user_id, snapshot_id)` is unique, so a replay — even two copies
racing each other — is stored once and answered as a duplicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.credentials import CONNECTOR_KEY_PREFIX, secret_hash
from server.errors import InvalidKey, InvalidRequest
from server.ingest.schemas import AccountIn, HeartbeatRequest, SnapshotRequest
from server.models import Connector, Position, Snapshot, SnapshotAccount, StopOrder

# A snapshot stamped further ahead than this (a connector with a wrong clock) would stay the
# "current" state until real time caught up; refuse it instead.
MAX_CLOCK_SKEW = timedelta(hours=1)
MAX_KEY_LENGTH = 200


def connector_key_hash(authorization: str | None) -> str:
    """The stored hash of the Bearer key in `authorization`; InvalidKey when it is unusable."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(CONNECTOR_KEY_PREFIX) or (
            len(key) > MAX_KEY_LENGTH):
        raise InvalidKey()
    return secret_hash(key)


def active_connector(session: Session, key_hash: str) -> tuple[str, int]:
    """(connector id, user id) of the unrevoked connector with this key; InvalidKey otherwise."""
    row = session.execute(
        select(Connector.id, Connector.user_id)
        .where(Connector.key_hash == key_hash, Connector.revoked_at.is_(None))
    ).first()
    if row is None:
        session.rollback()
        raise InvalidKey()
    return row.id, row.user_id


def record_heartbeat(session: Session, key_hash: str, heartbeat: HeartbeatRequest,
                     now: datetime) -> None:
    """Update the connector's liveness and gateway report; InvalidKey if unknown or revoked."""
    result = session.execute(
        update(Connector)
        .where(Connector.key_hash == key_hash, Connector.revoked_at.is_(None))
        .values(last_seen_at=now, connector_version=heartbeat.connector_version,
                uptime_s=heartbeat.uptime_s,
                reported_last_snapshot_at=heartbeat.last_snapshot_at,
                gateway_state=heartbeat.gateway.state, gateway_message=heartbeat.gateway.message,
                gateway_port=heartbeat.gateway.port)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise InvalidKey()
    session.commit()


def store_snapshot(session: Session, connector_id: str, user_id: int,
                   snapshot: SnapshotRequest, now: datetime) -> bool:
    """Store `snapshot` for the user; returns True when it was already stored (a replay)."""
    if snapshot.taken_at > now + MAX_CLOCK_SKEW:
        raise InvalidRequest("taken_at: more than an hour in the future; check the clock of the "
                             "machine the connector runs on")
    snapshot_id = str(snapshot.snapshot_id)
    try:
        snapshot_pk = session.execute(
            insert(Snapshot).values(user_id=user_id, connector_id=connector_id,
                                    snapshot_id=snapshot_id, taken_at=snapshot.taken_at,
                                    received_at=now)
            .returning(Snapshot.id)
        ).scalar_one()
    except IntegrityError:
        session.rollback()
        if _already_stored(session, user_id, snapshot_id):
            return True
        raise
    for account in snapshot.accounts:
        _insert_account(session, snapshot_pk, user_id, snapshot.taken_at, account)
    # Backfilled (older) snapshots must not move last_snapshot_at backwards.
    session.execute(
        update(Connector)
        .where(Connector.id == connector_id,
               or_(Connector.last_snapshot_at.is_(None),
                   Connector.last_snapshot_at < snapshot.taken_at))
        .values(last_snapshot_at=snapshot.taken_at)
    )
    session.commit()
    return False


def _already_stored(session: Session, user_id: int, snapshot_id: str) -> bool:
    found = session.scalar(select(exists().where(
        Snapshot.user_id == user_id, Snapshot.snapshot_id == snapshot_id)))
    session.rollback()
    return bool(found)


def _insert_account(session: Session, snapshot_pk: int, user_id: int, taken_at: datetime,
                    account: AccountIn) -> None:
    account_pk = session.execute(
        insert(SnapshotAccount).values(
            snapshot_pk=snapshot_pk, user_id=user_id, taken_at=taken_at,
            account_id=account.account_id, base_currency=account.base_currency,
            net_liquidation=account.net_liquidation, cash=account.cash)
        .returning(SnapshotAccount.id)
    ).scalar_one()
    if account.positions:
        session.execute(insert(Position), [
            {"snapshot_account_id": account_pk, **position.model_dump()}
            for position in account.positions])
    if account.stop_orders:
        session.execute(insert(StopOrder), [
            {"snapshot_account_id": account_pk, **order.model_dump()}
            for order in account.stop_orders])


def latest_version_hint(provider: Any, fallback: str | None) -> str | None:
    """The newest connector version from a provider callable (downloads), else the setting."""
    if provider is None:
        return fallback
    try:
        return provider() or fallback  # type: ignore[no-any-return]
    except Exception:
        return fallback
