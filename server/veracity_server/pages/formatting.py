"""Turning API values (decimal strings, ISO timestamps) into text a person reads.

Numbers stay Decimal all the way: money is shown exactly as stored, rounded only for display.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from veracity_server.wide_decimals import with_wide_decimals

CENT = Decimal("0.01")


def as_decimal(value: Any) -> Decimal | None:
    """Decimal from a Decimal, int or numeric string; None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@with_wide_decimals
def money(value: Any, currency: str | None = None) -> str:
    """`1,234.50 USD` (two decimals, thousands separators); an em dash when unknown."""
    number = as_decimal(value)
    if number is None:
        return "—"
    text = format(number.quantize(CENT, rounding=ROUND_HALF_EVEN), ",f")
    return f"{text} {currency}" if currency else text


@with_wide_decimals
def number(value: Any) -> str:
    """A quantity or price exactly as stored, without trailing zeros: `1,500`, `-3.25`."""
    parsed = as_decimal(value)
    if parsed is None:
        return "—"
    if parsed == parsed.to_integral_value():
        return format(parsed.quantize(Decimal(1)), ",f")
    return format(parsed.normalize(), ",f")


@with_wide_decimals
def price(value: Any) -> str:
    """A price with at least two decimals, more when IBKR quotes finer: `135.10`, `1.23456`."""
    parsed = as_decimal(value)
    if parsed is None:
        return "—"
    exponent = parsed.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(parsed.quantize(CENT), ",f")
    return format(parsed.normalize(), ",f")


ORDER_TYPE_WORDS = {
    "stop": "Stop", "stp": "Stop",
    "stop limit": "Stop limit", "stop_limit": "Stop limit", "stplmt": "Stop limit",
    "trailing_stop": "Trailing stop", "trailing stop": "Trailing stop", "trail": "Trailing stop",
    "trailing_stop_limit": "Trailing stop limit", "trailing stop limit": "Trailing stop limit",
    "traillmt": "Trailing stop limit",
}


def order_type(value: Any) -> str:
    """IBKR's display strings and order codes alike, in plain words: `Trailing stop limit`."""
    if not value:
        return "—"
    text = str(value).strip()
    return ORDER_TYPE_WORDS.get(text.lower(), text.replace("_", " ").capitalize())


def signed_class(value: Any) -> str:
    """CSS class for a gain (`gain`), a loss (`loss`) or neither (empty)."""
    parsed = as_decimal(value)
    if parsed is None or parsed == 0:
        return ""
    return "gain" if parsed > 0 else "loss"


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO-8601 string or datetime (naive means UTC); None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def short_datetime(value: Any) -> str:
    """`24 Nov 2026 20:15 UTC` — unambiguous for people in any locale."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%-d %b %Y %H:%M UTC")


def iso(value: Any) -> str:
    """ISO-8601 in UTC for `<time datetime>` attributes; empty when unknown."""
    moment = parse_time(value)
    return moment.astimezone(UTC).isoformat() if moment else ""


def time_ago(value: Any, now: datetime | None = None) -> str:
    """`just now`, `2 min ago`, `3 h ago`, `5 days ago`; `never` when there is no time."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        # Clocks of the server's workers and the database can disagree by a little.
        seconds = 0
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 90:
        return f"{minutes} min ago"
    hours = int(minutes // 60)
    if hours < 48:
        return f"{hours} h ago"
    return f"{hours // 24} days ago"

