"""Server-side session records: what makes a session end when it should.

The signed cookie alone cannot be taken back: a copy stays valid until it expires. So each
login also writes a `user_sessions` row under the SHA-256 of a random id the cookie carries,
and every request that needs the user checks that row (`session_is_live`). Deleting the row ends
the session wherever its cookie is. Two lifetimes, both settings: absolute from login
(VERACITY_SESSION_LIFETIME_S) and idle since the last request (VERACITY_SESSION_IDLE_S).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from veracity_server.columns import utc_now
from veracity_server.credentials import secret_hash
from veracity_server.models import UserSession

SESSION_ID_BYTES = 32
# last_seen_at moves on at most this often: one small write a minute per active session (the
# page polls every few seconds), at the price of the idle lifetime being a minute approximate.
TOUCH_INTERVAL = timedelta(seconds=60)


def open_session_record(db: Session, user_id: int, lifetimes: tuple[int, int]) -> str:
    """Record a new session for `user_id` (and drop its expired ones); returns the cookie's id."""
    now = utc_now()
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    db.execute(delete(UserSession).where(UserSession.user_id == user_id,
                                         _expired(now, lifetimes)))
    db.add(UserSession(user_id=user_id, id_hash=secret_hash(session_id), created_at=now,
                       last_seen_at=now))
    db.commit()
    return session_id


def session_is_live(db: Session, user_id: int, session_id: str,
                    lifetimes: tuple[int, int]) -> bool:
    """True while the record exists and neither lifetime has passed (an ended one is removed)."""
    now = utc_now()
    record = db.scalars(select(UserSession).where(
        UserSession.id_hash == secret_hash(session_id), UserSession.user_id == user_id)
    ).one_or_none()
    if record is None:
        return False
    absolute_s, idle_s = lifetimes
    if (now - record.created_at >= timedelta(seconds=absolute_s)
            or now - record.last_seen_at >= timedelta(seconds=idle_s)):
        db.delete(record)
        db.commit()
        return False
    if now - record.last_seen_at >= TOUCH_INTERVAL:
        db.execute(update(UserSession).where(UserSession.id == record.id)
                   .values(last_seen_at=now))
        db.commit()
    return True


def end_session_record(db: Session, session_id: str) -> None:
    """End one session (logout)."""
    db.execute(delete(UserSession).where(UserSession.id_hash == secret_hash(session_id)))
    db.commit()


def end_user_sessions(db: Session, user_id: int, keep_session_id: str | None = None) -> int:
    """End every session of `user_id` except `keep_session_id`'s; returns how many ended."""
    condition = [UserSession.user_id == user_id]
    if keep_session_id is not None:
        condition.append(UserSession.id_hash != secret_hash(keep_session_id))
    ended: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        delete(UserSession).where(*condition))
    db.commit()
    return int(ended.rowcount or 0)


def _expired(now: datetime, lifetimes: tuple[int, int]) -> ColumnElement[bool]:
    absolute_s, idle_s = lifetimes
    return or_(UserSession.created_at <= now - timedelta(seconds=absolute_s),
               UserSession.last_seen_at <= now - timedelta(seconds=idle_s))
