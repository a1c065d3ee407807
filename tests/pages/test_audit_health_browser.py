"""The Profile page's connector health (the connector's own checks with their fix lines) and its
Activity region (the audit log, newest first, "More" for older events). Real gunicorn server,
real chromium; screenshot in test-artefacts/pages."""

from __future__ import annotations

import http.client
import itertools
import json
from typing import Any
from urllib.parse import urlsplit

import requests
from playwright.sync_api import expect

from tests.pages.helpers import PASSWORD, sign_in

HEALTH = {"checked_at": "2026-12-06T22:00:00Z", "checks": [
    {"name": "settings", "level": "ok", "message": "~/.ibkr-connector/config/settings.json"},
    {"name": "key", "level": "ok", "message": "a key is stored"},
    {"name": "java", "level": "warn", "message": "no Java found (JAVA_HOME or PATH)",
     "fix": "install a Java 11 or newer runtime, then restart the connector"},
    {"name": "gateway folder", "level": "fail",
     "message": "~/Downloads/clientportal.gw is not a folder",
     "fix": "download clientportal.gw.zip from IBKR, unzip it and choose that folder"},
]}


BEATS = itertools.count()


def _beat(base_url: str, key: str, state: str, source_ip: str | None = None,
          health: dict[str, Any] | None = None) -> None:
    # Each with its own version: a gunicorn worker skips writing a report it wrote itself
    # within 5 s, and these come faster than any connector's.
    body: dict[str, Any] = {"connector_version": f"1.0.{next(BEATS)}", "uptime_s": 42,
                            "gateway": {"state": state, "message": f"gateway {state}",
                                        "port": 5000}}
    if health is not None:
        body["health"] = health
    if source_ip is None:
        response = requests.post(f"{base_url}/api/v1/connector/heartbeat", json=body,
                                 headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200, response.text
        return
    # From another loopback address: the server sees a new client IP.
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port,
                                            timeout=10, source_address=(source_ip, 0))
    try:
        connection.request("POST", "/api/v1/connector/heartbeat", body=json.dumps(body),
                           headers={"Authorization": f"Bearer {key}",
                                    "Content-Type": "application/json"})
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_health_with_fix_lines_and_the_paged_audit_log(start_server, open_page,
                                                       screenshot) -> None:
    server = start_server()
    server.create_user("audit@example.com", PASSWORD)
    connector_id, key = server.pair("audit@example.com", hostname="TRADING-PC")
    _beat(server.base_url, key, "ok", health=HEALTH)
    # Session changes: competing (the person logged in on the phone) and back, five times.
    for _ in range(5):
        _beat(server.base_url, key, "competing", health=HEALTH)
        _beat(server.base_url, key, "ok", health=HEALTH)
    _beat(server.base_url, key, "ok", source_ip="127.0.0.2", health=HEALTH)
    # 1 paired + 11 session states + 1 new IP = 13 events: 10 on the page, 3 behind "More".

    page: Any = open_page(base_url=server.base_url)
    sign_in(page, server.base_url, "audit@example.com")
    health = page.locator(f"#health-{connector_id}")
    expect(health).to_be_visible()
    expect(health.locator("summary")).to_contain_text("1 failing, 1 warning of 4 checks")
    failing = health.locator("[data-check='gateway folder']")
    expect(failing).to_contain_text("Failing")
    expect(failing.locator(".fix")).to_have_text(
        "Fix: download clientportal.gw.zip from IBKR, unzip it and choose that folder")
    expect(health.locator("[data-check='java'] .fix")).to_contain_text("install a Java 11")
    expect(health.locator(".health-ok")).to_have_text("OK: settings, key")

    activity = page.locator(f"#activity-{connector_id}")
    expect(activity).to_be_visible()
    events = activity.locator("li.event")
    expect(events).to_have_count(10)
    expect(events.nth(0)).to_contain_text("Key used from a new IP address — 127.0.0.2")
    expect(events.nth(1)).to_contain_text("Gateway session connected and logged in")
    expect(events.nth(2)).to_contain_text("Gateway session in use by another IBKR session")
    more = activity.get_by_role("button", name="More events of this connector")
    more.click()
    expect(events).to_have_count(13)
    expect(events.nth(12)).to_contain_text("Paired — from TRADING-PC (Windows-11, IP 127.0.0.1)")
    expect(more).to_have_count(0)
    # Reading older events survives the page's polling (the region is not polled).
    page.wait_for_timeout(2500)
    expect(events).to_have_count(13)
    screenshot(page, "18-connector-health-and-activity")
