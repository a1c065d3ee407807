"""A connector's first authentication: the candidate key it uses becomes its key.

The exchange answers a key as a candidate (veracity_server/pairing/service.py); repeats of the
exchange with the same idempotency key, possibly running at the same time, each answer one more.
The client keeps whichever answer reaches it, so every candidate works until the connector first
authenticates with one of them. That first request misses the ingest path's lookup by
`key_hash` (still the unusable pending marker) and comes here, once per connector: its candidate
becomes `key_hash` and the other candidates are deleted, so from then on one key works.

Plain SQL on the ingest path's DB-API connection, like veracity_server/ingest/store.py. The
conditional UPDATE of the connector's row decides between concurrent first requests with
different candidates (PostgreSQL re-checks the condition after the row lock; SQLite has one
writer): exactly one becomes the key.
"""

from __future__ import annotations

from typing import Any

from veracity_server.db import Database
from veracity_server.models import pending_key_marker


def claim_candidate_key(database: Database, connection: Any, key_hash: str) -> bool:
    """Make `key_hash` the key of the not yet authenticated connector it was answered to.

    True when the key is now its connector's key (made so here or by a concurrent request with
    the same key); False for a key that is no candidate, lost to another candidate used first,
    or whose connector was revoked. Costs one read (two index lookups) for an unknown key.
    """
    mark = "?" if database.is_sqlite else "%s"
    cursor = connection.cursor()
    try:
        # The key may have become its connector's key since the caller looked: a concurrent
        # first request with it (a heartbeat beside a snapshot) claimed it and deleted the
        # candidates. Read both in one statement, so that request's win is seen here.
        cursor.execute(
            f"SELECT (SELECT connector_id FROM connector_key_candidates WHERE key_hash = {mark}), "  # noqa: S608
            f"EXISTS (SELECT 1 FROM connectors WHERE key_hash = {mark} AND revoked_at IS NULL)",
            (key_hash, key_hash))
        connector_id, already_claimed = cursor.fetchone()
    finally:
        cursor.close()
    database.end_read(connection)
    if already_claimed:
        return True
    if connector_id is None:
        return False
    with database.write_transaction(connection) as cursor:
        cursor.execute(
            f"UPDATE connectors SET key_hash = {mark} "  # noqa: S608
            f"WHERE id = {mark} AND key_hash = {mark} AND revoked_at IS NULL",
            (key_hash, connector_id, pending_key_marker(connector_id)))
        claimed = cursor.rowcount == 1
        if claimed:
            cursor.execute(
                f"DELETE FROM connector_key_candidates WHERE connector_id = {mark}",  # noqa: S608
                (connector_id,))
        else:
            cursor.execute(
                f"SELECT 1 FROM connectors WHERE key_hash = {mark} AND revoked_at IS NULL",  # noqa: S608
                (key_hash,))
            claimed = cursor.fetchone() is not None
    return claimed
