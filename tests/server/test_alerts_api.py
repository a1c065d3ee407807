"""The Profile page's alert API: defaults, strict validation, the secret shown once, test sends
that need a channel, and the session and CSRF guards (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.server.helpers import World, build_world

URL = "/api/v1/profile/alerts"


def body(**changes: Any) -> dict[str, Any]:
    return {"email_enabled": True, "email_address": "me@example.com", "webhook_enabled": False,
            "webhook_url": None, "silent_after_s": 900, "login_after_s": 300,
            "competing_after_s": 1800, "update_alerts": True, "schedule_kind": "nyse",
            "schedule_days": [0, 1, 2, 3, 4], "schedule_start": "09:30", "schedule_end": "16:00",
            "schedule_timezone": "America/New_York", "snoozed_until": None, **changes}


def put(world: World, **changes: Any) -> Any:
    return world.client.put(URL, json=body(**changes), headers={"X-CSRF-Token": world.csrf})


def test_defaults_nyse_hours_and_no_channel(app, client: FlaskClient) -> None:
    world = build_world(app, client)
    answer = client.get(URL).get_json()
    settings = answer["settings"]
    assert settings["schedule_kind"] == "nyse" and not settings["email_enabled"]
    assert not settings["webhook_secret_set"] and not settings["email_available"]
    assert (settings["silent_after_s"], settings["login_after_s"],
            settings["competing_after_s"]) == (900, 300, 1800)
    assert "NYSE trading days" in answer["schedule_text"] and answer["deliveries"] == []
    assert put(world).status_code == 200


def test_bad_settings_are_refused_naming_the_field(app, client: FlaskClient) -> None:
    world = build_world(app, client)
    cases = {
        "silent_after_s": {"silent_after_s": 30},  # below VERACITY_ALERTS_MIN_THRESHOLD_S
        "login_after_s": {"login_after_s": "300"},  # JSON's types only
        "email_address": {"email_address": "me@example.com\nBcc: all@example.com"},
        "webhook_url": {"webhook_url": "http://hooks.example.com/x"},  # https only
        "schedule_timezone": {"schedule_timezone": "Mars/Olympus"},
        "schedule_days": {"schedule_kind": "custom", "schedule_days": []},
        "schedule_start": {"schedule_start": "25:00"},
        "snoozed_until": {"snoozed_until": "2026-12-07T10:00:00"},  # no zone
        "webhook_enabled": {"webhook_enabled": True,
                            "webhook_url": "https://hooks.example.com/x"},  # no secret yet
    }
    for field, changes in cases.items():
        answer = put(world, **changes)
        assert answer.status_code == 400, (field, answer.get_json())
        assert field in answer.get_json()["error"]["message"], (field, answer.get_json())
    assert client.get(URL).get_json()["settings"]["email_enabled"] is False  # nothing saved


def test_the_webhook_secret_is_shown_once_and_replaced_by_a_new_one(app,
                                                                     client: FlaskClient) -> None:
    world = build_world(app, client)
    headers = {"X-CSRF-Token": world.csrf}
    first = client.post(URL + "/webhook-secret", headers=headers)
    assert first.status_code == 201
    secret = first.get_json()["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 6 + 44
    shown = client.get(URL)
    assert secret not in shown.get_data(as_text=True)
    assert shown.get_json()["settings"]["webhook_secret_set"] is True
    assert put(world, webhook_enabled=True,
               webhook_url="https://hooks.example.com/x").status_code == 200
    second = client.post(URL + "/webhook-secret", headers=headers).get_json()["secret"]
    assert second != secret


def test_a_test_send_needs_its_channel(app, client: FlaskClient) -> None:
    world = build_world(app, client)
    headers = {"X-CSRF-Token": world.csrf}
    assert put(world).status_code == 200
    no_smtp = client.post(URL + "/test", json={"channel": "email"}, headers=headers)
    assert no_smtp.status_code == 409 and "not set up" in no_smtp.get_json()["error"]["message"]
    no_url = client.post(URL + "/test", json={"channel": "webhook"}, headers=headers)
    assert no_url.status_code == 409
    assert client.post(URL + "/test", json={"channel": "sms"}, headers=headers).status_code == 400


def test_a_test_send_is_queued_for_the_worker(make_app) -> None:
    app = make_app(VERACITY_SMTP_HOST="127.0.0.1")
    client = app.test_client()
    world = build_world(app, client)
    assert put(world).status_code == 200
    queued = client.post(URL + "/test", json={"channel": "email"},
                         headers={"X-CSRF-Token": world.csrf})
    assert queued.status_code == 202
    delivery = queued.get_json()["delivery"]
    assert (delivery["status"], delivery["attempts"], delivery["target"]) == (
        "pending", 0, "me@example.com")
    assert client.get(URL).get_json()["deliveries"] == [delivery]


def test_the_api_needs_a_session_and_the_csrf_token(app, client: FlaskClient) -> None:
    assert client.get(URL).status_code == 401
    world = build_world(app, client)
    assert client.put(URL, json=body()).status_code == 403
    assert client.post(URL + "/webhook-secret").status_code == 403
    assert put(world).status_code == 200


def test_webhooks_to_private_addresses_are_refused_unless_allowed() -> None:
    from veracity_server.alerts.delivery_webhook import url_problem

    for url in ("https://127.0.0.1/hook", "https://localhost:8443/hook", "https://10.1.2.3/",
                "https://[::1]/hook", "https://169.254.169.254/latest/meta-data"):
        problem = url_problem(url, allow_private=False)
        assert problem is not None and "non-public" in problem, (url, problem)
    assert "https://" in (url_problem("http://hooks.example.com/", allow_private=False) or "")
    assert url_problem("https://user:pw@hooks.example.com/", allow_private=False)
    assert url_problem("http://127.0.0.1:8080/hook", allow_private=True) is None
    assert url_problem("ftp://127.0.0.1/hook", allow_private=True) is not None
