"""Alert e-mails over SMTP (smtplib), configured by the VERACITY_SMTP_* settings.

STARTTLS (port 587, the default), implicit TLS (`tls`, port 465) or none (a relay on the same
host); a login when VERACITY_SMTP_USERNAME is set (the password may come from
VERACITY_SMTP_PASSWORD_FILE). Certificates are verified against the system's CAs.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from veracity_server.alerts.deliveries import Outcome
from veracity_server.alerts.model import AlertDelivery
from veracity_server.columns import utc_now
from veracity_server.settings import Settings


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how alert e-mails are sent."""

    host: str
    port: int
    security: str  # starttls | tls | none
    username: str | None
    password: str | None
    sender: str
    timeout_s: float


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """The SMTP configuration, or None when VERACITY_SMTP_HOST is not set."""
    if not settings.smtp_host:
        return None
    return SmtpConfig(settings.smtp_host, settings.smtp_port, settings.smtp_security,
                      settings.smtp_username, settings.smtp_password,
                      settings.smtp_from or default_sender(settings.public_url),
                      settings.smtp_timeout_s)


def default_sender(public_url: str | None) -> str:
    """alerts@<the public host>, or alerts@localhost."""
    host = urlsplit(public_url).hostname if public_url else None
    return f"Veracity <alerts@{host or 'localhost'}>"


def build_email(config: SmtpConfig, delivery: AlertDelivery) -> EmailMessage:
    """The e-mail of one delivery (plain text; the same Message-ID on every retry)."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = delivery.target
    message["Subject"] = delivery.subject
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = make_msgid(idstring=delivery.message_id,
                                       domain=config.sender.rpartition("@")[2].strip("> ")
                                       or "localhost")
    message["X-Veracity-Alert"] = f"{delivery.event}; id={delivery.message_id}"
    message.set_content(delivery.body.decode())
    return message


def send_email(config: SmtpConfig | None, delivery: AlertDelivery) -> Outcome:
    """Send one alert e-mail; an Outcome says whether, and whether to retry."""
    if config is None:
        return Outcome(False, error="e-mail is not configured on this server "
                                    "(VERACITY_SMTP_HOST)", permanent=True)
    message = build_email(config, delivery)
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s,
                                    context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=context)
            if config.username:
                smtp.login(config.username, config.password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        return Outcome(False, error=f"recipient refused: {error.recipients}", permanent=True)
    except smtplib.SMTPDataError as error:
        # 5xx to the message itself is the server's final word; 4xx asks to try later.
        return Outcome(False, status_code=error.smtp_code,
                       error=f"SMTP {error.smtp_code}: {error.smtp_error!r}",
                       permanent=error.smtp_code >= 500)
    except smtplib.SMTPResponseException as error:
        # A refused login or sender is the operator's configuration: retried, so the message
        # still goes once the settings are fixed (the log names the answer).
        return Outcome(False, status_code=error.smtp_code,
                       error=f"SMTP {error.smtp_code}: {error.smtp_error!r}")
    except (smtplib.SMTPException, OSError) as error:
        return Outcome(False, error=f"{type(error).__name__}: {error}")
    return Outcome(True, status_code=250)
