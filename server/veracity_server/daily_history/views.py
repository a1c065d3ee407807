"""`POST /api/v1/connector/history/daily`: a connector's batch of past daily NAVs (issue 19).

Authenticated with the connector key like snapshots, counted against the same per-minute
rate. Limits first (body size before reading, then days and positions), then the batch is
stored whole in one transaction; reconciliation with the live snapshots runs after it, in a
transaction of its own, so a bug there never loses history the connector will not resend.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from veracity_contract.daily_history import DailyHistoryAnswer, DailyHistoryRequest
from veracity_server.columns import utc_now
from veracity_server.daily_history import reconcile
from veracity_server.daily_history.store import (
    HistoryLimits,
    check_batch,
    check_body_size,
    store_batch,
)
from veracity_server.db import database, get_session
from veracity_server.ingest import service
from veracity_server.ingest.quotas import LIMIT_HEADER, LimitExceeded, quotas
from veracity_server.openapi import Operation, Response, declare_operations, error_response
from veracity_server.requests_json import parse_body
from veracity_server.settings import current_settings

log = logging.getLogger(__name__)
blueprint = Blueprint("daily_history", __name__)
PATH = "/api/v1/connector/history/daily"


def history_limits() -> HistoryLimits:
    """The per-request limits the operator set (advertised in the heartbeat's `limits`)."""
    settings = current_settings()
    return HistoryLimits(days=settings.limit_history_days_per_request,
                         positions=settings.limit_history_positions_per_request,
                         request_bytes=settings.limit_history_request_bytes)


@blueprint.post(PATH)
def daily_history() -> ResponseReturnValue:
    """Store a batch of daily points (idempotent per account, report date and source)."""
    key_hash = service.connector_key_hash(request.headers.get("Authorization"))
    db = database()
    limits = quotas()
    limits.count_snapshot(key_hash)
    with db.raw_connection() as connection:
        connector = service.active_connector(db, connection, key_hash)
    batch_limits = history_limits()
    check_body_size(batch_limits, request.content_length,
                    current_app.config.get("MAX_CONTENT_LENGTH"))
    batch = parse_body(DailyHistoryRequest)
    now = utc_now()
    check_batch(batch_limits, batch, now.date())
    if connector.user_stored_bytes >= limits.limits.storage_bytes_per_user:
        raise LimitExceeded(429, "storage_bytes_per_user",
                            f"Limit reached: this account stores "
                            f"{limits.limits.storage_bytes_per_user} bytes; older snapshots "
                            f"are thinned out over time, or delete a connector you no longer "
                            f"use.", retry_after_s=limits.retry_after_storage_s)
    session = get_session()
    stored = store_batch(session, connector.user_id, connector.connector_id, batch, now)
    days = [(account.account_id, day.report_date) for account in batch.accounts
            for day in account.days]
    outcome = reconcile.BatchOutcome()
    try:
        from_hour = current_settings().reconcile_from_hour_utc
        outcome = reconcile.reconcile_days(session, connector.user_id, batch.source, days,
                                           from_hour, now)
        reconcile.reconcile_recent(
            session, connector.user_id, now.date() - timedelta(days=reconcile.RECHECK_DAYS),
            {(account, day, batch.source) for account, day in days}, from_hour, now)
    except Exception:
        # The history is stored; the days are compared again when they are next sent.
        log.exception("reconciliation of a daily history batch failed")
    return jsonify(DailyHistoryAnswer(
        source=batch.source, stored=len(stored.stored),
        already_present=stored.already_present, with_live_data=outcome.with_live_data,
        differences=outcome.differences).model_dump())


declare_operations(blueprint, [
    Operation("POST", PATH, "Daily history (past end-of-day NAV, Flex positions)",
              tag="connector", security="connector_key", request_model=DailyHistoryRequest,
              description="Idempotent per account, report date and source (the first value "
                          "stays); stored whole or not at all; never replaces live "
                          "snapshots. See docs/history.md.",
              responses={200: Response("Stored (stored) or already present", DailyHistoryAnswer),
                         400: error_response("Malformed body, or a report date in the future"),
                         401: error_response("invalid_key: unknown, malformed or revoked "
                                             "connector key"),
                         413: error_response("Body too large, or more days or positions than "
                                             "the limits allow",
                                             {LIMIT_HEADER: "The limit's name"}),
                         429: error_response("Too many requests a minute, or the user's "
                                             "storage is full",
                                             {"Retry-After": "Seconds to wait",
                                              LIMIT_HEADER: "The limit's name"})}),
])
