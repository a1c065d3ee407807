"""A revoked connector still trying: noted from the connector API's 401 answers.

Revocation takes effect at the connector's next request; our connector then deletes its key and
stops. One that keeps sending (an old copy, a restored backup, another client using the key) is
worth an alert. The note is taken where every connector endpoint's answer passes, after the
answer is made (`after_app_request` on the alerts blueprint), so the ingest path is untouched
and costs nothing unless it answers 401: then one indexed read, and a write at most every
NOTE_EVERY per connector.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Response, request
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from veracity_server.alerts.model import AlertKeyRefusal
from veracity_server.columns import utc_now
from veracity_server.credentials import CONNECTOR_KEY_PREFIX, secret_hash
from veracity_server.db import Database, database
from veracity_server.models import Connector, ConnectorKeyCandidate
from veracity_server.sessions import CONNECTOR_API_PREFIX

log = logging.getLogger(__name__)

NOTE_EVERY = timedelta(seconds=30)
MAX_KEY_LENGTH = 200


def note_refused_key(db: Database, key: str, now: datetime) -> bool:
    """Record that the revoked connector owning `key` was refused; False if no such one."""
    key_hash = secret_hash(key)
    with db.engine.begin() as connection:
        connector_id = connection.execute(select(Connector.id).where(
            Connector.key_hash == key_hash, Connector.revoked_at.is_not(None))
        ).scalar_one_or_none()
        if connector_id is None:
            # Revoked before its key was first used: the key is still one of its candidates
            # (veracity_server/pairing/keys.py).
            connector_id = connection.execute(
                select(Connector.id).join(ConnectorKeyCandidate,
                                          ConnectorKeyCandidate.connector_id == Connector.id)
                .where(ConnectorKeyCandidate.key_hash == key_hash,
                       Connector.revoked_at.is_not(None))).scalar_one_or_none()
        if connector_id is None:
            return False
        changed = connection.execute(
            update(AlertKeyRefusal).where(AlertKeyRefusal.connector_id == connector_id,
                                          AlertKeyRefusal.last_refused_at < now - NOTE_EVERY)
            .values(last_refused_at=now, refusals=AlertKeyRefusal.refusals + 1)).rowcount
        if changed:
            return True
    try:
        with db.engine.begin() as connection:
            connection.execute(insert(AlertKeyRefusal).values(
                connector_id=connector_id, first_refused_at=now, last_refused_at=now,
                refusals=1))
    except IntegrityError:
        pass  # noted recently (within NOTE_EVERY), or by a request racing this one
    return True


def note_after_request(response: Response) -> Response:
    """After a connector endpoint answered 401 to a well-formed key, note it (never fails)."""
    if response.status_code != 401 or not request.path.startswith(CONNECTOR_API_PREFIX):
        return response
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(CONNECTOR_KEY_PREFIX) or (
            len(key) > MAX_KEY_LENGTH):
        return response
    try:
        note_refused_key(database(), key, utc_now())
    except SQLAlchemyError:
        log.warning("could not note a refused connector key", exc_info=True)
    return response
