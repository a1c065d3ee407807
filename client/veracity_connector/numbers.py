"""Exact numbers from the gateway's JSON: Decimal everywhere, never binary float.

The gateway sends money and quantities sometimes as JSON numbers, sometimes as strings
("123.45", "1,234.50", "5%"). The HTTP contract with Veracity sends them as decimal strings.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from veracity_contract.connector import (
    CODE_MAX_LENGTH,
    CONID_MAX,
    CURRENCY_MAX_LENGTH,
    ORDER_ID_MAX_LENGTH,
    SHORT_CODE_MAX_LENGTH,
    SYMBOL_MAX_LENGTH,
)
from veracity_contract.fields import LONG_TEXT_MAX_LENGTH

logger = logging.getLogger(__name__)



class NumberFormatError(ValueError):
    """A value the gateway sent that is not a number where one was expected."""


def parse_decimal(value: Any) -> Decimal | None:
    """Parse a gateway number exactly; None/""/"N/A" → None; garbage → NumberFormatError."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal | float):
        # The JSON parser hands us Decimal (parse_float=Decimal), but a bare NaN or Infinity in
        # the gateway's JSON arrives as a float; the server refuses non-finite numbers, so they
        # are not numbers here either. A finite float's shortest repr is what the gateway wrote.
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        if not number.is_finite():
            raise NumberFormatError("not a finite number")
        return number
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if text in {"", "N/A", "n/a", "-", "--"}:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise NumberFormatError(f"not a number: {value!r}") from None
        if not number.is_finite():
            raise NumberFormatError(f"not a finite number: {value!r}")
        return number
    raise NumberFormatError(f"not a number: {value!r}")


def parse_trailing_amount(value: Any) -> tuple[Decimal | None, str | None]:
    """Split a trailing amount like "5%" → (5, "%") or "1.25" → (1.25, "amt")."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_decimal(value.strip()[:-1]), "%"
    amount = parse_decimal(value)
    return amount, (None if amount is None else "amt")


def decimal_to_string(value: Decimal | None) -> str | None:
    """The contract's form of a number: a plain decimal string without exponent, or None."""
    if value is None:
        return None
    text = format(value, "f")
    # "-0" is a valid Decimal but reads oddly on a page; normalise it.
    return text.lstrip("-") if text.startswith("-") and text.strip("-0.") == "" else text


def lenient_decimal(value: Any, field: str) -> Decimal | None:
    """Like parse_decimal, but garbage becomes None (logged by field name, never by value).

    One odd field must not cost a whole snapshot; the server accepts null where the contract
    allows it, and rows without a usable quantity are skipped by the caller.
    """
    try:
        return parse_decimal(value)
    except NumberFormatError:
        logger.warning("the gateway sent an unreadable number in %s; sent as null", field)
        return None


def lenient_conid(value: Any) -> int | None:
    """A contract id as an integer, or None (logged without the value) if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = parse_decimal(value)
    except NumberFormatError:
        number = None
    # The server's Conid is 0..2**62: a larger id would cost the whole snapshot, not one row.
    if number is None or number != number.to_integral_value() or not 0 <= number <= CONID_MAX:
        if value is not None:
            logger.warning("the gateway sent an unreadable contract id; the row is skipped")
        return None
    return int(number)


# The contract's text limits: a longer value would cost the whole snapshot, so it is cut to fit.
SYMBOL_MAX = SYMBOL_MAX_LENGTH
DESCRIPTION_MAX = LONG_TEXT_MAX_LENGTH
CODE_MAX = CODE_MAX_LENGTH
SHORT_CODE_MAX = SHORT_CODE_MAX_LENGTH
CURRENCY_MAX = CURRENCY_MAX_LENGTH
ORDER_ID_MAX = ORDER_ID_MAX_LENGTH


def bounded_text(value: Any, limit: int) -> str | None:
    """A gateway text value as a string of at most `limit` characters (None if absent/odd)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None
