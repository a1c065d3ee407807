"""The server settings' value parsers: each turns an environment text into a typed value or
raises ValueError with the words shown after "VARIABLE: " (veracity_server.settings names it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def whole(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        upper = f" to {maximum}" if maximum is not None else " or more"
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"must be a whole number from {minimum}{upper}, "
                             f"got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError(f"must be a whole number from {minimum}{upper}, got {number}")
        return number
    return parse


def seconds(minimum: float, maximum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            number = float("nan")
        if not minimum <= number <= maximum:  # also refuses nan
            raise ValueError(f"must be a number of seconds from {minimum:g} to {maximum:g}, "
                             f"got {value!r}")
        return number
    return parse


def seconds_list(value: Any) -> str:
    """Comma-separated positive numbers of seconds ("5,300,1800"), at least one; kept as text
    (a tuple-typed field would make pydantic-settings read the variable as JSON)."""
    parts = [part.strip() for part in str(value).split(",")]
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if not numbers or not all(0 < number <= 7 * 86400 for number in numbers):
        raise ValueError(f"must be comma-separated numbers of seconds (each above 0, at most "
                         f"a week), like '5,300,1800', got {value!r}")
    return ",".join(f"{number:g}" for number in numbers)


def boolean(value: Any) -> bool:
    word = str(value).strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"must be true or false (or 1/0, yes/no, on/off), got {value!r}")


def choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        word = str(value).strip().lower()
        if word not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return word
    return parse


def rate_limit(value: Any) -> str:
    from limits import parse_many  # local: only needed when validating

    text = str(value).strip()
    try:
        parse_many(text)
    except ValueError:
        raise ValueError(f"must look like '10 per minute', got {value!r}") from None
    return text


def text(value: Any) -> str | None:
    # BaseSettings validates defaults too: None must stay None, not become "None".
    return None if value is None else (str(value).strip() or None)


Text = Annotated[str | None, BeforeValidator(text)]


def optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`parse`, except that unset stays None (the setting's absence means something)."""
    return lambda value: None if text(value) is None else parse(value)


def public_url(value: Any) -> str | None:
    """An http(s) base address without query, fragment or credentials (no trailing slash)."""
    address = text(value)
    if address is None:
        return None
    parts = urlsplit(address)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ValueError(f"must be an http(s) address like https://veracity.example.com, "
                         f"got {value!r}")
    return address.rstrip("/")
