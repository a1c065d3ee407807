"""The alerts worker: APScheduler 3 with the database as its job store.

`veracity-server alerts-worker` runs a BlockingScheduler whose jobs live in the
`apscheduler_jobs` table (SQLAlchemyJobStore): `alerts-detect` every
VERACITY_ALERTS_DETECT_INTERVAL_S (open and resolve incidents, queue their messages) and
`alerts-deliver` every VERACITY_ALERTS_DELIVERY_INTERVAL_S (send due e-mails and webhooks,
retries included) and `alerts-prune` every six hours (the delivery log and ended incidents are
kept 90 days). `--once` runs one pass of each and exits (cron, tests, a manual nudge).

Several workers may run (one per host, for availability). APScheduler 3 does not coordinate
schedulers sharing a store, so the jobs coordinate in the database themselves: a detection pass
first takes a lease row (`alert_leases`, one conditional UPDATE), so one pass runs per
interval; and every state change under it is a compare-and-set (an incident is notified, a
delivery claimed, by exactly one worker), so even overlapping passes send each message once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from veracity_server.alerts import deliveries, detection
from veracity_server.alerts.delivery_email import send_email, smtp_config
from veracity_server.alerts.delivery_webhook import send_webhook
from veracity_server.alerts.model import APSCHEDULER_TABLE, AlertDelivery, AlertLease, AlertSettings
from veracity_server.columns import utc_now
from veracity_server.db import Database
from veracity_server.settings import Settings

log = logging.getLogger(__name__)

DETECT_JOB, DELIVER_JOB, PRUNE_JOB = "alerts-detect", "alerts-deliver", "alerts-prune"
PRUNE_INTERVAL_S = 6 * 3600
DETECT_LEASE = "detect"


@dataclass
class WorkerContext:
    """What the jobs need; set once per worker process (jobs are stored by reference)."""

    database: Database
    settings: Settings
    holder: str
    clock: Callable[[], datetime] = utc_now


_context: WorkerContext | None = None


def configure(database: Database, settings: Settings) -> WorkerContext:
    """Set this process's worker context (the CLI does, before starting the scheduler)."""
    global _context
    _context = WorkerContext(database, settings,
                             f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    return _context


def _current() -> WorkerContext:
    if _context is None:
        raise RuntimeError("the alerts worker is not configured (alerts.worker.configure)")
    return _context


def take_lease(database: Database, name: str, holder: str, now: datetime,
               length: timedelta) -> bool:
    """Hold the lease `name` until now + length if it is free (or ours); True when taken."""
    with database.engine.begin() as connection:
        changed = connection.execute(
            update(AlertLease).where(AlertLease.name == name,
                                     (AlertLease.until <= now) | (AlertLease.holder == holder))
            .values(holder=holder, until=now + length)).rowcount
    if changed:
        return True
    try:
        with database.engine.begin() as connection:
            connection.execute(insert(AlertLease).values(name=name, holder=holder,
                                                         until=now + length))
    except IntegrityError:
        return False  # it exists and another worker holds it
    return True


def detect_job() -> None:
    """The scheduled detection pass (one worker per interval, by the lease)."""
    context = _current()
    now = context.clock()
    # Half an interval: the next run (an interval later) always finds it free, whoever runs.
    length = timedelta(seconds=context.settings.alerts_detect_interval_s / 2)
    if not take_lease(context.database, DETECT_LEASE, context.holder, now, length):
        return
    detection.run_detection(context.database, now, context.settings.latest_connector_version,
                            context.settings.public_url)
    deliver_job()  # what the pass queued goes out now, not at the next delivery tick


def deliver_job() -> None:
    """The scheduled delivery pass: send what is due (claims make it safe to overlap)."""
    context = _current()
    deliveries.send_due(context.database, context.clock(), senders(context),
                        context.settings.alert_retry_delays_s, context.clock)


def prune_job() -> None:
    """Delete the delivery log and incidents past their keeping time (idempotent)."""
    context = _current()
    deleted = deliveries.prune(context.database, context.clock())
    if deleted:
        log.info("pruned %d old alert row(s)", deleted)


def senders(context: WorkerContext) -> dict[str, deliveries.Sender]:
    """One sender per channel, configured from the settings."""
    settings = context.settings
    smtp = smtp_config(settings)

    def webhook(delivery: AlertDelivery) -> deliveries.Outcome:
        # The current secret signs, so a secret made anew applies to retries too.
        with context.database.sessions() as session:
            user = session.get(AlertSettings, delivery.user_id)
            secret = user.webhook_secret if user is not None else None
        return send_webhook(delivery, secret, settings.alerts_webhook_timeout_s,
                            settings.alerts_webhook_allow_private)

    return {"email": lambda delivery: send_email(smtp, delivery), "webhook": webhook}


def build_scheduler(context: WorkerContext) -> Any:
    """A BlockingScheduler on the database job store, with both jobs (re)registered."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    settings = context.settings
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=context.database.engine,
                                                 tablename=APSCHEDULER_TABLE)},
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": max(1, int(settings.alerts_detect_interval_s))},
        timezone="UTC")
    now = context.clock()
    for job_id, function, interval in (
            (DETECT_JOB, "veracity_server.alerts.worker:detect_job",
             settings.alerts_detect_interval_s),
            (DELIVER_JOB, "veracity_server.alerts.worker:deliver_job",
             settings.alerts_delivery_interval_s),
            (PRUNE_JOB, "veracity_server.alerts.worker:prune_job", PRUNE_INTERVAL_S)):
        # replace_existing: every worker registers the same two jobs under the same ids, so
        # the store holds one of each however many workers start.
        scheduler.add_job(function, "interval", seconds=interval, id=job_id,
                          replace_existing=True, next_run_time=now)
    return scheduler


def run_once(context: WorkerContext) -> None:
    """One detection pass and one delivery pass, then return."""
    detect_job()
    deliver_job()


def run_forever(context: WorkerContext) -> None:
    """Run the scheduler until SIGTERM or SIGINT."""
    scheduler = build_scheduler(context)

    def stop(signum: int, _frame: object) -> None:
        log.info("alerts worker stopping (signal %d)", signum)
        # From the signal handler: let the main loop end after its current wait.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": False},
                         daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("alerts worker %s started (detect every %gs, deliver every %gs)",
             context.holder, context.settings.alerts_detect_interval_s,
             context.settings.alerts_delivery_interval_s)
    scheduler.start()
