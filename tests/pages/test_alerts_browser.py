"""The Alerts card in headless chromium: settings saved, a signing secret shown once, and
"Send test" on each channel delivered by the real alerts worker to a real SMTP server and a real
webhook receiver on loopback (the webhook's signature verified with standardwebhooks)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from standardwebhooks import Webhook

from tests.pages.conftest import SLOW_EXPECT_MS
from tests.pages.helpers import PASSWORD, sign_in
from tests.server.alerts_support import alert_env, alerts_worker, smtp_server, webhook_receiver
from tests.support.waiting import wait_until

EMAIL = "alerting@example.com"


def test_alert_settings_and_send_test_on_the_page(start_server, open_page, screenshot,
                                                  tmp_path: Path) -> None:
    with smtp_server() as (smtp_port, box), webhook_receiver() as receiver:
        server = start_server(alert_env(smtp_port))
        server.create_user(EMAIL, PASSWORD)
        with alerts_worker(server, tmp_path / "worker.log"):
            page: Any = open_page(base_url=server.base_url)
            sign_in(page, server.base_url, EMAIL)
            card = page.locator("#alerts-card")
            expect(card.get_by_role("heading", name="Alerts")).to_be_visible()
            # The default schedule, said in words.
            expect(card.locator("#alerts-schedule-text")).to_contain_text("NYSE trading days")

            card.get_by_label("Send alerts by e-mail").check()
            card.get_by_label("E-mail address").fill("me@example.com")
            card.get_by_label("Silent after (minutes)").fill("20")
            card.get_by_label("Send alerts", exact=True).select_option("custom")
            card.get_by_label("Sat").check()
            card.get_by_label("Time zone").fill("Europe/London")
            card.get_by_role("button", name="Save alert settings").click()
            expect(card.locator("#alerts-status")).to_have_text("Alert settings saved.")
            expect(card.locator("#alerts-schedule-text")).to_contain_text("Europe/London")

            card.get_by_role("button", name="Send test e-mail").click()
            expect(card.locator("#alerts-status")).to_have_text(
                "Test e-mail sent.", timeout=SLOW_EXPECT_MS)
            assert box.subjects("me@example.com") == ["Veracity: test alert"]

            card.get_by_role("button", name="Generate signing secret").click()
            secret_box = card.get_by_label("Your signing secret (shown only now)")
            expect(secret_box).to_have_value(re.compile(r"^whsec_"))
            secret = secret_box.input_value()
            card.get_by_label("Send alerts to a webhook").check()
            card.get_by_label("Webhook URL").fill(receiver.url("/page-hook"))
            card.get_by_role("button", name="Save alert settings").click()
            expect(card.locator("#alerts-status")).to_have_text("Alert settings saved.")
            card.get_by_role("button", name="Send test webhook").click()
            expect(card.locator("#alerts-status")).to_have_text(
                "Test webhook sent.", timeout=SLOW_EXPECT_MS)
            hooks = wait_until(lambda: receiver.received("/page-hook"), 10, "the webhook")
            assert Webhook(secret).verify(hooks[0].body, hooks[0].headers)["type"] == "test"

            # The delivery log lists both, sent; after a reload the secret is not shown again.
            expect(card.locator("#alerts-deliveries tr[data-status='sent']")).to_have_count(2)
            screenshot(page, "alerts-card")
            page.reload()
            card = page.locator("#alerts-card")
            expect(card.locator("#alerts-secret-panel")).to_be_hidden()
            expect(card.locator("#alerts-secret-state")).to_have_text("set")
            assert secret not in page.content()
            expect(card.get_by_label("E-mail address")).to_have_value("me@example.com")
            expect(card.get_by_label("Silent after (minutes)")).to_have_value("20")
            expect(card.locator("#alerts-deliveries tr[data-status='sent']")).to_have_count(2)
