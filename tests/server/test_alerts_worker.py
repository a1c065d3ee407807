"""The alerts worker as a real process (two of them, sharing the job store) beside a live
server, with a real SMTP server (aiosmtpd) and a real webhook receiver on loopback.

Thresholds and retries are seconds (VERACITY_ALERTS_MIN_THRESHOLD_S=1, RETRY_S=1,2,2) so the
whole incident life — silent, alerted once, back, resolved once — takes seconds.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select, text
from standardwebhooks import Webhook, WebhookVerificationError

from tests.server.alerts_support import (
    Hook,
    MailBox,
    WebhookReceiver,
    alert_env,
    alerts_worker,
    smtp_server,
    webhook_receiver,
)
from tests.support.server_fixtures import LiveServer, start_live_server
from tests.support.waiting import wait_until
from veracity_server.alerts.model import AlertIncident

SETTLE_S = 2.0  # passes run every 0.5 s: long enough for a duplicate to show up


@dataclass
class Rig:
    """One live server, two alerts workers, an SMTP server and a webhook receiver."""

    server: LiveServer
    box: MailBox
    receiver: WebhookReceiver


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Shared by this module's tests (each has its own user, address and webhook path)."""
    folder = tmp_path_factory.mktemp("alerts-rig")
    with smtp_server() as (smtp_port, box), webhook_receiver() as receiver, \
            start_live_server(folder, env=alert_env(smtp_port), workers=1) as server, \
            alerts_worker(server, folder / "worker-1.log"), \
            alerts_worker(server, folder / "worker-2.log"):
        yield Rig(server, box, receiver)


BEATS = iter(range(10**9))


def heartbeat(server: LiveServer, key: str) -> None:
    """One heartbeat with the gateway logged in.

    Its message differs each time: the server writes an unchanged report at most every 5 s
    (HEARTBEAT_WRITE_EVERY), which a 2-second silence threshold would read as silence.
    """
    response = requests.post(server.url("/api/v1/connector/heartbeat"), json={
        "connector_version": "1.0.0", "uptime_s": 5,
        "gateway": {"state": "ok", "message": f"beat {next(BEATS)}", "port": 5000}},
        headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert response.status_code == 200, response.text


@contextlib.contextmanager
def beating(server: LiveServer, key: str, every_s: float = 0.3) -> Iterator[None]:
    """A connector that is alive: heartbeats in the background for the block."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            heartbeat(server, key)
            stop.wait(every_s)

    heartbeat(server, key)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class User:
    """A user of the rig with a paired connector and both channels on."""

    rig: Rig
    name: str
    session: requests.Session
    connector_id: str
    key: str
    secret: str

    @property
    def address(self) -> str:
        """Where this user's e-mails go."""
        return f"{self.name}@example.com"

    @property
    def hook_path(self) -> str:
        """Where this user's webhooks go."""
        return f"/hooks/{self.name}"

    def body(self, **changes: Any) -> dict[str, Any]:
        """Every field of PUT /api/v1/profile/alerts: both channels, silent after 2 s, always."""
        return {"email_enabled": True, "email_address": self.address,
                "webhook_enabled": True, "webhook_url": self.rig.receiver.url(self.hook_path),
                "silent_after_s": 2, "login_after_s": 60, "competing_after_s": 60,
                "update_alerts": False, "schedule_kind": "always",
                "schedule_days": [0, 1, 2, 3, 4], "schedule_start": "09:30",
                "schedule_end": "16:00", "schedule_timezone": "America/New_York",
                "snoozed_until": None, **changes}

    def save(self, **changes: Any) -> None:
        """PUT the settings with `changes`."""
        saved = self.session.put(self.rig.server.url("/api/v1/profile/alerts"),
                                 json=self.body(**changes), timeout=10)
        assert saved.status_code == 200, saved.text

    def mails(self) -> list[str]:
        """Subjects of the e-mails this user got."""
        return self.rig.box.subjects(self.address)

    def hooks(self) -> list[Hook]:
        """The webhooks this user's endpoint got."""
        return self.rig.receiver.received(self.hook_path)

    def got(self, emails: int, hooks: int) -> bool:
        """True once exactly this many of each arrived."""
        return len(self.mails()) == emails and len(self.hooks()) == hooks

    def assert_still(self, emails: int, hooks: int) -> None:
        """Nothing more arrives for a few passes."""
        time.sleep(SETTLE_S)
        assert len(self.mails()) == emails, self.mails()
        assert len(self.hooks()) == hooks, [hook.body for hook in self.hooks()]

    def deliveries(self) -> list[dict[str, Any]]:
        """The delivery log the page shows."""
        answer = self.session.get(self.rig.server.url("/api/v1/profile/alerts"), timeout=10)
        return answer.json()["deliveries"]  # type: ignore[no-any-return]


def new_user(rig: Rig, name: str, **changes: Any) -> User:
    """Create the user, pair and beat once, make a webhook secret, save the settings."""
    server = rig.server
    server.create_user(f"{name}@example.com")
    connector_id, key = server.pair(f"{name}@example.com")
    heartbeat(server, key)
    session = server.login(f"{name}@example.com")
    made = session.post(server.url("/api/v1/profile/alerts/webhook-secret"), timeout=10)
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert secret.startswith("whsec_")
    user = User(rig, name, session, connector_id, key, secret)
    user.save(**changes)
    shown = session.get(server.url("/api/v1/profile/alerts"), timeout=10).json()
    assert secret not in json.dumps(shown) and shown["settings"]["webhook_secret_set"]
    return user


def verified(secret: str, hook: Hook) -> dict[str, Any]:
    """The hook's payload, after the standardwebhooks library verified its signature."""
    payload: dict[str, Any] = Webhook(secret).verify(hook.body, hook.headers)
    return payload


def test_a_silent_connector_alerts_once_and_resolves_once_with_two_workers(rig: Rig) -> None:
    user = new_user(rig, "silent")

    # Silent: no heartbeat for more than 2 s. Two workers run; each message goes out once.
    wait_until(lambda: user.got(1, 1), 20, "the silent alert by e-mail and webhook")
    user.assert_still(1, 1)
    assert "has gone silent" in user.mails()[0]
    opened = verified(user.secret, user.hooks()[0])
    assert opened["type"] == "connector.alert.opened"
    assert opened["data"]["kind"] == "silent" and opened["data"]["hostname"] == "trader-pc"

    # Back: heartbeats again, so exactly one "resolved" of each.
    with beating(rig.server, user.key):
        wait_until(lambda: user.got(2, 2), 20, "the resolved e-mail and webhook")
        user.assert_still(2, 2)
    assert user.mails()[1].startswith("Resolved")
    resolved = verified(user.secret, user.hooks()[1])
    assert resolved["type"] == "connector.alert.resolved"
    assert resolved["data"]["incident_id"] == opened["data"]["incident_id"]
    assert sorted((row["channel"], row["event"], row["status"], row["attempts"])
                  for row in user.deliveries()) == [("email", "opened", "sent", 1),
                                                    ("email", "resolved", "sent", 1),
                                                    ("webhook", "opened", "sent", 1),
                                                    ("webhook", "resolved", "sent", 1)]
    # Each message sent is in the connector's audit log.
    events = user.session.get(rig.server.url(
        f"/api/v1/profile/ibkr/connectors/{user.connector_id}/events?limit=100"),
        timeout=10).json()["events"]
    assert sorted((event["detail"]["alert"], event["detail"]["event"], event["detail"]["channel"])
                  for event in events if event["kind"] == "alert_sent") == [
        ("silent", "opened", "email"), ("silent", "opened", "webhook"),
        ("silent", "resolved", "email"), ("silent", "resolved", "webhook")]
    # The same check refuses a body changed on the way.
    forged = Hook(dict(user.hooks()[0].headers), user.hooks()[0].body + b" ", 200)
    with pytest.raises(WebhookVerificationError):
        verified(user.secret, forged)


def open_incidents(server: LiveServer, connector_key: str) -> list[Any]:
    """The connector's incidents not resolved yet, read from the server's database."""
    from veracity_server.credentials import secret_hash
    from veracity_server.models import Connector

    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(
                select(AlertIncident.id).join(Connector, Connector.id ==
                                              AlertIncident.connector_id)
                .where(Connector.key_hash == secret_hash(connector_key),
                       AlertIncident.resolved_at.is_(None))).all())
    finally:
        engine.dispose()


def test_quiet_hours_hold_alerts_and_snooze_silences_them(rig: Rig) -> None:
    # A schedule that is closed now: only the day after tomorrow (UTC), all day.
    closed_day = (datetime.now(UTC).weekday() + 2) % 7
    quiet = {"schedule_kind": "custom", "schedule_days": [closed_day],
             "schedule_start": "00:00", "schedule_end": "23:59", "schedule_timezone": "UTC"}
    user = new_user(rig, "quiet", **quiet)
    server = rig.server

    # Silent and back within quiet hours: the incident opens and ends, nothing is sent.
    wait_until(lambda: open_incidents(server, user.key), 20, "the silent incident to open")
    with beating(server, user.key):
        wait_until(lambda: not open_incidents(server, user.key), 20, "the incident to end")
        user.assert_still(0, 0)

    # Silent again, still quiet: held. When the schedule opens, it is sent then.
    wait_until(lambda: open_incidents(server, user.key), 20, "the second incident to open")
    user.assert_still(0, 0)
    user.save()
    wait_until(lambda: user.got(1, 1), 20, "the held alert once the schedule opened")
    assert verified(user.secret, user.hooks()[0])["type"] == "connector.alert.opened"

    # Snoozed: it comes back, and the "resolved" waits for the snooze to end.
    user.save(snoozed_until=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    with beating(server, user.key):
        wait_until(lambda: not open_incidents(server, user.key), 20, "the incident to end")
        user.assert_still(1, 1)
        user.save()
        wait_until(lambda: user.got(2, 2), 20, "the resolved messages after the snooze")
    assert verified(user.secret, user.hooks()[1])["type"] == "connector.alert.resolved"


def test_a_failing_webhook_is_retried_with_backoff_then_delivered(rig: Rig) -> None:
    user = new_user(rig, "retry")
    rig.receiver.scripts[user.hook_path] = [500, 500]
    with beating(rig.server, user.key):
        queued = user.session.post(rig.server.url("/api/v1/profile/alerts/test"),
                                   json={"channel": "webhook"}, timeout=10)
        assert queued.status_code == 202, queued.text
        delivery_id = queued.json()["delivery"]["id"]
        mailed = user.session.post(rig.server.url("/api/v1/profile/alerts/test"),
                                   json={"channel": "email"}, timeout=10)
        assert mailed.status_code == 202, mailed.text

        def sent_row() -> dict[str, Any] | None:
            row = next(row for row in user.deliveries() if row["id"] == delivery_id)
            return row if row["status"] == "sent" else None

        row = wait_until(sent_row, 30, "the webhook delivered after two failures")
        hooks = user.hooks()
        wait_until(lambda: user.mails() == ["Veracity: test alert"], 10, "the test e-mail")
    assert [hook.status for hook in hooks] == [500, 500, 200]
    assert row["attempts"] == 3 and row["last_status_code"] == 200
    # The same webhook-id on every attempt (the receiver's idempotency key); each signed.
    assert len({hook.headers["webhook-id"] for hook in hooks}) == 1
    assert all(verified(user.secret, hook)["type"] == "test" for hook in hooks)
    # Backoff: about 1 s, then about 2 s (VERACITY_ALERTS_RETRY_S=1,2,2, with 10 % jitter).
    stamps = [int(hook.headers["webhook-timestamp"]) for hook in hooks]
    assert stamps[2] - stamps[1] >= 1 and stamps[2] - stamps[0] >= 2, stamps


@pytest.mark.postgres
def test_the_worker_on_postgresql_keeps_its_jobs_there_and_alerts_once(
        postgres_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("alerts-postgres")
    with smtp_server() as (smtp_port, box), webhook_receiver() as receiver, \
            start_live_server(folder, env=alert_env(smtp_port), workers=1,
                              database_url=postgres_database_url) as server, \
            alerts_worker(server, folder / "worker-1.log"), \
            alerts_worker(server, folder / "worker-2.log"):
        user = new_user(Rig(server, box, receiver), "postgres")
        wait_until(lambda: user.got(1, 1), 20, "the silent alert by e-mail and webhook")
        user.assert_still(1, 1)
        assert verified(user.secret, user.hooks()[0])["data"]["kind"] == "silent"
        engine = create_engine(postgres_database_url)
        try:
            with engine.connect() as connection:
                jobs = connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars()
                assert sorted(jobs) == ["alerts-deliver", "alerts-detect", "alerts-prune"]
        finally:
            engine.dispose()


def test_a_webhook_answered_410_gone_is_not_retried(rig: Rig) -> None:
    user = new_user(rig, "gone")
    rig.receiver.scripts[user.hook_path] = [410]
    with beating(rig.server, user.key):
        queued = user.session.post(rig.server.url("/api/v1/profile/alerts/test"),
                                   json={"channel": "webhook"}, timeout=10)
        delivery_id = queued.json()["delivery"]["id"]

        def failed_row() -> dict[str, Any] | None:
            row = next(row for row in user.deliveries() if row["id"] == delivery_id)
            return row if row["status"] == "failed" else None

        row = wait_until(failed_row, 20, "the delivery marked failed")
        time.sleep(SETTLE_S)  # a retry would come after about a second
    assert (row["attempts"], row["last_status_code"], row["next_attempt_at"]) == (1, 410, None)
    assert len(user.hooks()) == 1
