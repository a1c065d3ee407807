"""Cheap checks on a request body's raw bytes that let the ingest fast path skip slow ones.

The hot routes (heartbeat, snapshots) validate a body straight from its bytes with pydantic.
Two checks that pydantic cannot do in its Rust core used to cost more than that validation
(measured on a 16 kB snapshot of 50 positions: validation 0.5 ms, a duplicate-key parse 0.27 ms,
a Python magnitude check on each of its ~270 decimals 0.15 ms). Both now look at the bytes first
and fall back to the exact slow check only when the bytes leave room for doubt:

- **Repeated keys.** pydantic's JSON reader keeps the last of two equal keys; we refuse such a
  body (a proxy may read the first). Every key in JSON is a string followed by optional
  whitespace and a colon. When the body has no whitespace before any colon, counting `":`
  counts every key at least once (a string value that happens to hold `":` only adds). The
  strict models forbid unknown fields, so each key became a field that was set; when the count
  equals the fields set in the validated model, no key can have appeared twice.
- **Decimal sizes.** `veracity_contract.fields.ExactNumber` refuses numbers PostgreSQL's NUMERIC
  cannot store (exponents beyond ±30, more than 40 significant digits) with a Python check per
  number. A body whose digit runs are all at most 20 long, with no exponent and no non-ASCII
  digit (ASCII bytes, no escape), cannot hold such a number, so it is validated by a copy
  of the model's schema without that per-number check (`validator_without_size_checks`).
"""

from __future__ import annotations

import functools
import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator

from veracity_contract.fields import reasonable_magnitude

# Whitespace that may stand between a key's closing quote and its colon, where the count below
# would miss the key: such bodies take the exact check. (JSON strings cannot hold these bytes
# unescaped, and single-byte searches cost next to nothing.)
_KEY_SPACING = (b"\t", b"\n", b"\r", b" :")
# 21 digits in a row: more than a plain decimal may have on one side of its point here.
_LONG_DIGIT_RUN = b"0" * 21
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789_", b"000000000" + b"0")
# An exponent in a decimal string ("1E+999999"); text like "Inc" fails at its next byte.
_EXPONENT = (re.compile(rb"e[-+]?[0-9]"), re.compile(rb"E[-+]?[0-9]"))


def may_repeat_a_key(raw: bytes, validated: BaseModel) -> bool:
    """False when `raw` (which validated into `validated`) surely has no key twice in one object.

    True means "cannot tell from the bytes": the caller runs the exact check.
    """
    if any(spacing in raw for spacing in _KEY_SPACING):
        return True
    return raw.count(b'":') != fields_given(validated)


def fields_given(model: BaseModel) -> int:
    """How many fields the body set in `model` and the models nested in it."""
    count = len(model.model_fields_set)
    for name in _nested_model_fields(type(model)):
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            count += fields_given(value)
        elif isinstance(value, list | tuple):
            count += sum(fields_given(item) for item in value if isinstance(item, BaseModel))
    return count


@functools.cache
def _nested_model_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The names of `model`'s fields whose type mentions another model (directly or in a list)."""
    return tuple(name for name, field in model.model_fields.items()
                 if _mentions_a_model(field.annotation))


def _mentions_a_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_mentions_a_model(argument) for argument in typing.get_args(annotation))


def refuse_repeated_keys(raw: bytes) -> None:
    """The exact check: parse `raw` again, refusing an object with a key twice (ValueError)."""
    json.loads(raw, object_pairs_hook=unique_keys)


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict; ValueError naming the key when one appears twice."""
    # Parsers disagree on which of two equal keys wins (a proxy may read the first, we the
    # last), so a body that says two things is refused rather than guessed at.
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:100]!r} appears twice in one object")
            seen.add(key)
    return data


def numbers_are_plainly_sized(raw: bytes) -> bool:
    """True when no decimal in `raw` can be beyond ExactNumber's size limits."""
    if not raw.isascii() or b"\\" in raw:
        return False  # Decimal() also reads non-ASCII digits ("١٢٣"), also as \\u escapes
    if _LONG_DIGIT_RUN in raw.translate(_DIGITS_AS_ZERO):
        return False
    return not any(pattern.search(raw) for pattern in _EXPONENT)


@functools.cache
def validator_without_size_checks(model: type[BaseModel]) -> SchemaValidator:
    """`model`'s validator minus ExactNumber's per-number size check, for bodies that passed
    `numbers_are_plainly_sized`. Built from the model's own schema: one source of truth."""
    return SchemaValidator(_without_size_checks(model.__pydantic_core_schema__))


def _without_size_checks(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("type") == "function-after" and (
                node["function"].get("function") is reasonable_magnitude):
            return _without_size_checks(node["schema"])
        return {key: _without_size_checks(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_size_checks(item) for item in node]
    return node
