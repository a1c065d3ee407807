"""Alerts: Veracity tells a user, by e-mail and signed webhook, when a connector needs them.

Cut by domain (docs/alerts.md is the reader's guide):
- model.py — the tables (settings, incidents, deliveries, refused keys, leases, job store)
- preferences.py — each user's alert settings, their defaults and the webhook secret
- schedule.py — market days and hours (NYSE via exchange-calendars), custom hours, snooze
- detection.py — the conditions per connector, and incidents opened and resolved once
- messages.py — what an e-mail and a webhook say
- deliveries.py — the delivery log: queue, claim, retry with backoff
- delivery_email.py, delivery_webhook.py — SMTP and Standard Webhooks sending
- key_refusals.py — a revoked key still in use (noted from the API's 401 answers)
- worker.py — the APScheduler worker (`veracity-server alerts-worker`)
- views.py — the Profile page's alert API
"""
