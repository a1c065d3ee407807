"""Reading request bodies: exact decimals, strict pydantic validation, errors that name the field.

Flask's own `request.get_json()` turns 1234.56 into a binary float; here JSON numbers with a
fraction become `Decimal`, so money stays exact from the wire to the database.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from veracity_server.errors import InvalidJson, InvalidRequest
from veracity_server.raw_body_checks import (
    fields_given,
    may_repeat_a_key,
    refuse_repeated_keys,
    unique_keys,
)

ModelType = TypeVar("ModelType", bound=BaseModel)
# A JSON number with a fraction or an exponent ends with a digit right before a comma, a closing
# bracket or brace, or whitespace; inside a string (a decimal sent as text, a timestamp's
# seconds) a digit is followed by more text or the closing quote. pydantic's JSON parser reads
# such numbers through a binary float, so bodies with one take the exact path. Each pattern
# starts with a literal, which the regex engine skips to quickly (a full scan of a 16 kB
# snapshot costs a few percent of its validation); text that merely looks like a number makes
# the exact path run for nothing, which is slower but still right.
_NUMBER_END = rb"[0-9]+[,}\] \t\r\n]"
_FRACTIONAL_NUMBER = (re.compile(rb"\." + _NUMBER_END), re.compile(rb"e[-+]?" + _NUMBER_END),
                      re.compile(rb"E[-+]?" + _NUMBER_END))


def _has_fractional_number(raw: bytes) -> bool:
    """True when `raw` may hold a JSON number with a fraction or an exponent."""
    return any(pattern.search(raw) is not None for pattern in _FRACTIONAL_NUMBER)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(f"{name} is not allowed in JSON")


def read_json_body(allow_empty: bool = False) -> Any:
    """The request body parsed as JSON (decimals exact); InvalidJson when it is not JSON."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidJson("The request body is empty; send a JSON object.")
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise InvalidJson("Send the body as JSON with Content-Type: application/json.")
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=Decimal,
                          parse_constant=_reject_constant, object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError) as error:
        # ValueError also covers integers beyond Python's 4300-digit conversion limit.
        raise InvalidJson(f"The request body is not valid JSON: {_short(error)}") from None
    except RecursionError:
        # The C parser recurses once per level: [[[[…]]]] deep enough exhausts the stack.
        raise InvalidJson("The request body is nested too deeply.") from None
    _reject_unstorable_text(raw, data)
    return data


def check_repeated_keys(raw: bytes) -> None:
    """InvalidJson when an object in `raw` has a key twice (pydantic's and msgspec's readers
    keep the last)."""
    try:
        refuse_repeated_keys(raw)
    except RecursionError:
        raise InvalidJson("The request body is nested too deeply.") from None
    except ValueError as error:
        if "appears twice" in str(error):
            raise InvalidJson(f"The request body is not valid JSON: {_short(error)}") from None
        # Any other problem: pydantic's reader words it when it validates the same bytes.


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:300] + "…"


def _reject_unstorable_text(raw: bytes, data: Any) -> None:
    """Refuse strings no database can store: NUL characters and lone UTF-16 surrogates.

    Both are legal JSON escapes (\\u0000, \\ud800) but PostgreSQL rejects them at insert time;
    the checks run only when the raw body contains such an escape, so normal bodies pay nothing.
    """
    if b"\\u0000" in raw:
        raise InvalidRequest("body: text must not contain NUL (\\u0000) characters")
    if b"\\ud" in raw.lower():
        try:
            json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("body: text contains an unpaired UTF-16 surrogate") from None


def field_path(location: tuple[int | str, ...]) -> str:
    """`accounts[0].positions[3].quantity` from pydantic's error location."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def validation_message(error: ValidationError) -> str:
    """A short message naming the first few bad fields."""
    parts = []
    for detail in error.errors()[:5]:
        path = field_path(tuple(detail["loc"]))
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{path}: {message}")
    more = len(error.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_body(model: type[ModelType], allow_empty: bool = False) -> ModelType:
    """The request body validated against `model`; InvalidJson/InvalidRequest otherwise."""
    data = read_json_body(allow_empty=allow_empty)
    if not isinstance(data, dict):
        raise InvalidRequest("body: the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest(validation_message(error)) from None


def validates_from_bytes(raw: bytes) -> bool:
    """True when `raw` may be validated straight from its bytes and stored as sent.

    Not so for an empty body, one with fractional JSON numbers (allowed, but read through a
    float by pydantic's JSON reader), a NaN, or an escape that needs the unstorable-text checks:
    those go the exact way of `parse_body`.
    """
    return bool(raw.strip()) and not _has_fractional_number(raw) and not (
        may_hold_unstorable_escape(raw)) and b"NaN" not in raw and b"Infinity" not in raw


def may_hold_unstorable_escape(raw: bytes) -> bool:
    """True when `raw` may escape a NUL or a UTF-16 surrogate (see `_reject_unstorable_text`)."""
    # One search for a backslash spares the three escape searches on nearly every body.
    return b"\\" in raw and (b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw)


def check_json_mimetype() -> None:
    """InvalidJson when the request says its body is something other than JSON."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise InvalidJson("Send the body as JSON with Content-Type: application/json.")


def parse_body_bytes(model: type[ModelType]) -> tuple[ModelType, bytes]:
    """The request body validated against `model`, and the bytes to store for it.

    Validated once, straight from the bytes (no dict in between), and those same bytes are
    stored, when `validates_from_bytes` allows; otherwise validated the exact way of
    `parse_body` and stored re-encoded, with its decimals as strings.
    """
    raw = request.get_data(cache=True)
    if validates_from_bytes(raw):
        check_json_mimetype()
        try:
            validated = model.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            if first["type"] == "json_invalid":
                raise InvalidJson(f"The request body is not valid JSON: {first['msg']}") from None
            if first["type"] == "model_type" and not first["loc"]:
                raise InvalidRequest("body: the request body must be a JSON object") from None
            raise InvalidRequest(validation_message(error)) from None
        if may_repeat_a_key(raw, fields_given(validated)):
            check_repeated_keys(raw)
        return validated, raw
    body = parse_body(model)
    return body, body.model_dump_json(exclude_none=True).encode("utf-8")
