"""Reading a snapshot fast: msgspec checks the bytes, pydantic only reads what it refuses.

Validating a 50-position snapshot with pydantic cost ~350 µs of the ~1.6 ms of CPU a worker
spends storing it (issue 20's ingest target). msgspec checks the same constraints in C in about a
third of that. The structs below mirror the contract's models (`veracity_contract.connector`),
which stay the one source of the OpenAPI document and of every error message:

- the mirror accepts a subset of what pydantic accepts, with the same facts. Where pydantic's
  rule is hard to mirror exactly (decimal text, date-times), the mirror takes only the plain
  form the connector sends and leaves the rest to pydantic;
- anything the mirror refuses is read again by pydantic, which accepts it or answers the error
  it always answered.

`tests/server/test_snapshot_reader.py` holds the mirror to that: the same fields and bounds as
the models, and, over generated bodies, nothing accepted that pydantic refuses.
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
import msgspec.structs
from flask import request
from msgspec import UNSET, Meta, Struct, UnsetType

from veracity_contract.connector import (
    ACCOUNT_ID_MAX_LENGTH,
    CODE_MAX_LENGTH,
    CONID_MAX,
    CURRENCY_MAX_LENGTH,
    MAX_ACCOUNTS,
    MAX_ROWS_PER_ACCOUNT,
    ORDER_ID_MAX_LENGTH,
    SHORT_CODE_MAX_LENGTH,
    SYMBOL_MAX_LENGTH,
    SnapshotRequest,
)
from veracity_contract.fields import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    LONG_TEXT_MAX_LENGTH,
    MAX_MAGNITUDE_DIGITS,
    MAX_SIGNIFICANT_DIGITS,
)
from veracity_server.ingest.snapshot_facts import AccountFacts, SnapshotFacts
from veracity_server.raw_body_checks import may_repeat_a_key
from veracity_server.requests_json import (
    check_json_mimetype,
    check_repeated_keys,
    may_hold_unstorable_escape,
    parse_body_bytes,
)

# Decimal text in its plain form ("-1234.5600"), checked for all of a snapshot's numbers at once
# by `all_plain_decimals` (a pattern on each value cost ~0.35 µs, half of msgspec's whole decode
# for 50 positions). At most 41 characters: 40 digits and a point.
_ExactText = Annotated[str, Meta(min_length=1, max_length=MAX_SIGNIFICANT_DIGITS + 1)]
# JSON integers: msgspec's bounds stop at 64 bits; 18 digits are far inside the magnitude rule.
_ExactInteger = Annotated[int, Meta(ge=-(10**18), le=10**18)]
_Exact = _ExactText | _ExactInteger
# RFC 3339 with an upper-case T, seconds, at most microseconds and an explicit zone: what the
# connector sends. Python's own parser then reads it (pydantic accepts more forms).
_TIMESTAMP_TEXT = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                   r"(Z|[+-][0-9]{2}:[0-9]{2})\Z")
_Timestamp = Annotated[str, Meta(pattern=_TIMESTAMP_TEXT)]
_Conid = Annotated[int, Meta(ge=0, le=CONID_MAX)]
_Symbol = Annotated[str, Meta(max_length=SYMBOL_MAX_LENGTH)]
_LongText = Annotated[str, Meta(max_length=LONG_TEXT_MAX_LENGTH)]
_Code = Annotated[str, Meta(max_length=CODE_MAX_LENGTH)]
_ShortCode = Annotated[str, Meta(max_length=SHORT_CODE_MAX_LENGTH)]
_Currency = Annotated[str, Meta(max_length=CURRENCY_MAX_LENGTH)]
# Any 64-bit integer is 1 to 20 characters as text, within the order id's length.
_OrderId = (Annotated[str, Meta(min_length=1, max_length=ORDER_ID_MAX_LENGTH)]
            | Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)])


# Optional fields default to UNSET, not None, so that a key sent (even as null) can be told from
# one left out: the repeated-key check counts the keys given (raw_body_checks.py). gc=False: a
# decoded snapshot holds no reference cycles, so its ~60 structs need no tracking by the
# cyclic garbage collector.
class PositionMirror(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """`veracity_contract.connector.PositionIn`."""

    conid: _Conid
    symbol: _Symbol | UnsetType | None = UNSET
    description: _LongText | UnsetType | None = UNSET
    asset_class: _Code | UnsetType | None = UNSET
    quantity: _Exact
    market_price: _Exact | UnsetType | None = UNSET
    market_value: _Exact | UnsetType | None = UNSET
    currency: _Currency | UnsetType | None = UNSET
    multiplier: _Exact | UnsetType | None = UNSET
    average_cost: _Exact | UnsetType | None = UNSET
    unrealized_pnl: _Exact | UnsetType | None = UNSET


class StopOrderMirror(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """`veracity_contract.connector.StopOrderIn`."""

    order_id: _OrderId
    conid: _Conid
    symbol: _Symbol | UnsetType | None = UNSET
    side: Literal["BUY", "SELL"]
    order_type: _Code | UnsetType | None = UNSET
    quantity: _Exact | UnsetType | None = UNSET
    stop_price: _Exact | UnsetType | None = UNSET
    limit_price: _Exact | UnsetType | None = UNSET
    trailing_amount: _Exact | UnsetType | None = UNSET
    trailing_unit: _ShortCode | UnsetType | None = UNSET
    time_in_force: _ShortCode | UnsetType | None = UNSET
    status: _Code | UnsetType | None = UNSET


class AccountMirror(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """`veracity_contract.connector.AccountIn`."""

    account_id: Annotated[str, Meta(min_length=1, max_length=ACCOUNT_ID_MAX_LENGTH)]
    base_currency: _Currency | UnsetType | None = UNSET
    net_liquidation: _Exact | UnsetType | None = UNSET
    cash: _Exact | UnsetType | None = UNSET
    positions: (Annotated[list[PositionMirror], Meta(max_length=MAX_ROWS_PER_ACCOUNT)]
                | UnsetType | None) = UNSET
    stop_orders: (Annotated[list[StopOrderMirror], Meta(max_length=MAX_ROWS_PER_ACCOUNT)]
                  | UnsetType | None) = UNSET


class SnapshotMirror(Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """`veracity_contract.connector.SnapshotRequest`."""

    snapshot_id: UUID
    taken_at: _Timestamp
    accounts: Annotated[list[AccountMirror], Meta(max_length=MAX_ACCOUNTS)]


MIRRORS: dict[type[Struct], str] = {
    SnapshotMirror: "SnapshotRequest", AccountMirror: "AccountIn",
    PositionMirror: "PositionIn", StopOrderMirror: "StopOrderIn"}
_decoder = msgspec.json.Decoder(SnapshotMirror)
_FIELD_COUNT = {mirror: len(mirror.__struct_fields__) for mirror in MIRRORS}


def number_fields(mirror: type[Struct]) -> tuple[str, ...]:
    """The names of `mirror`'s exact-number fields."""
    hints = typing.get_type_hints(mirror, include_extras=True)
    return tuple(name for name in mirror.__struct_fields__
                 if _ExactText in typing.get_args(hints[name]))


def _numbers_picker(mirror: type[Struct]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Picks a row's exact numbers from its astuple() by position (in C, no Python per field)."""
    indexes = [mirror.__struct_fields__.index(name) for name in number_fields(mirror)]
    if len(indexes) < 2:  # itemgetter of one index gives the value, not a tuple
        raise TypeError(f"{mirror.__name__}: expected two or more exact-number fields")
    return operator.itemgetter(*indexes)


_NUMBERS_OF = {mirror: _numbers_picker(mirror)
               for mirror in (PositionMirror, StopOrderMirror, AccountMirror)}


def read_snapshot() -> tuple[SnapshotFacts, bytes]:
    """The request's snapshot, validated, and the bytes to store for it."""
    raw = request.get_data(cache=True)
    found = facts_from_bytes(raw)
    if found is not None:
        check_json_mimetype()
        facts, keys_given = found
        if may_repeat_a_key(raw, keys_given):
            check_repeated_keys(raw)
        return facts, raw
    snapshot, stored = parse_body_bytes(SnapshotRequest)
    return SnapshotFacts.of(snapshot), stored


def facts_from_bytes(raw: bytes) -> tuple[SnapshotFacts, int] | None:
    """The facts of `raw` and how many keys it gave, or None when the mirror refuses it."""
    # Escapes of NUL and of UTF-16 surrogates: legal JSON, but the database cannot store them,
    # and pydantic's path words the refusal. (The mirror has no float field, so it refuses the
    # fractional numbers, NaN and Infinity that keep pydantic off the bytes itself.)
    if may_hold_unstorable_escape(raw):
        return None
    try:
        snapshot = _decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    taken_at = _utc_time(snapshot.taken_at)
    if taken_at is None:
        return None
    seen: set[str] = set()
    keys_given = _FIELD_COUNT[SnapshotMirror]
    numbers: list[Any] = []
    for account in snapshot.accounts:
        if account.account_id in seen:
            return None
        seen.add(account.account_id)
        for row in (account, *(account.positions or ()), *(account.stop_orders or ())):
            values = msgspec.structs.astuple(row)
            keys_given += _FIELD_COUNT[type(row)] - values.count(UNSET)
            numbers.extend(_NUMBERS_OF[type(row)](values))
    if not all_plain_decimals(numbers):
        return None
    accounts = tuple(AccountFacts(
        account.account_id, _or_none(account.base_currency), _decimal(account.net_liquidation),
        len(account.positions or ()), len(account.stop_orders or ()))
        for account in snapshot.accounts)
    return SnapshotFacts(snapshot.snapshot_id, taken_at, accounts), keys_given


_DIGITS = b"0123456789"
_DIGIT_RUN_MARK = bytes.maketrans(_DIGITS, b"d" * len(_DIGITS))
_TOO_MANY_DIGITS = b"d" * (MAX_MAGNITUDE_DIGITS + 1)


def all_plain_decimals(numbers: list[Any]) -> bool:
    """True when each text in `numbers` is a plain decimal within the magnitude rule.

    Plain: an optional minus, 1 to 30 digits, then optionally a point and 1 to 30 digits (as
    `-?[0-9]{1,30}(\\.[0-9]{1,30})?`, which `tests/server/test_snapshot_reader.py` holds this
    to). Such text is what pydantic's `ExactNumber` reads as `Decimal(text)` and accepts. The
    checks run over all numbers joined, with byte searches in C, instead of a pattern per value.
    `numbers` may also hold None, UNSET and the integers msgspec bounded; those pass.
    """
    # filter(None) drops None, UNSET and 0; the texts are never empty (min_length=1).
    present = [*filter(None, numbers)]
    if not present:
        return True
    try:
        joined = "\n".join(present)
    except TypeError:  # integers among them (the connector sends text)
        joined = "\n".join(map(str, present))
    if not joined.isascii():
        return False
    framed = ("\n" + joined + "\n").encode("ascii")
    # Only digits, minus and point in the values, and no line break but the separators.
    if framed.translate(None, _DIGITS + b"-.\n") or framed.count(b"\n") != len(present) + 1:
        return False
    # A minus only first: with it dropped there, none is left.
    framed = framed.replace(b"\n-", b"\n")
    if b"-" in framed or b"\n\n" in framed or b"\n." in framed or b".\n" in framed:
        return False
    if _TOO_MANY_DIGITS in framed.translate(_DIGIT_RUN_MARK):
        return False
    # Without their digits, a value with two points leaves two side by side.
    return b".." not in framed.translate(None, _DIGITS)


def _or_none(value: Any) -> Any:
    return None if value is UNSET else value


def _decimal(value: str | int | UnsetType | None) -> Decimal | None:
    """An exact number `all_plain_decimals` passed, as pydantic reads it."""
    return None if value is None or value is UNSET else Decimal(value)


def _utc_time(text: str) -> datetime | None:
    """`text` (already in the plain RFC 3339 form) in UTC, or None when out of range."""
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if not EARLIEST_TIMESTAMP <= moment < LATEST_TIMESTAMP:
        return None
    return moment
