"""The snapshot route's msgspec mirror (ingest/snapshot_reader.py) against the contract's models.

The mirror may refuse what pydantic accepts (pydantic then reads it), never the other way round,
and what it accepts it must read as pydantic does. Held three ways: the mirror's fields and
bounds against the models' JSON schema; generated bodies, valid and hostile, through both; and
the route, which must take the mirror for a plain body and pydantic's answers for the rest.
"""

from __future__ import annotations

import json
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tests.server.helpers import World, build_world
from tests.support.server_fixtures import snapshot_body
from veracity_contract import connector as contract
from veracity_server.ingest import snapshot_reader
from veracity_server.ingest.snapshot_facts import SnapshotFacts
from veracity_server.ingest.snapshot_reader import (
    MIRRORS,
    all_plain_decimals,
    facts_from_bytes,
    number_fields,
)
from veracity_server.raw_body_checks import fields_given

PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


# --- the mirror's shape against the models ------------------------------------------------------

def _branches(schema: dict[str, Any], definitions: dict[str, Any]) -> list[dict[str, Any]]:
    """A property's alternatives (anyOf flattened, references resolved)."""
    if "$ref" in schema:
        return _branches(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
    if "anyOf" in schema:
        return [branch for part in schema["anyOf"] for branch in _branches(part, definitions)]
    return [schema]


def _kind(branch: dict[str, Any]) -> str:
    return "enum" if "enum" in branch else branch.get("type", "object")


def _within(mirror: dict[str, Any], model: dict[str, Any]) -> bool:
    """True when every value `mirror`'s branch allows, `model`'s branch allows too (by bounds)."""
    upper = ("maxLength", "maximum", "maxItems")
    lower = ("minLength", "minimum", "minItems")
    return (all(bound not in model or (bound in mirror and mirror[bound] <= model[bound])
                for bound in upper)
            and all(bound not in model or (bound in mirror and mirror[bound] >= model[bound])
                    for bound in lower)
            and set(mirror.get("enum", ())) <= set(model.get("enum", mirror.get("enum", ()))))


@pytest.mark.parametrize("mirror", list(MIRRORS), ids=lambda mirror: mirror.__name__)
def test_each_mirror_has_its_models_fields_and_bounds_no_looser(
        mirror: type[msgspec.Struct]) -> None:
    model: type[BaseModel] = getattr(contract, MIRRORS[mirror])
    model_schema = model.model_json_schema()
    model_definitions = {**model_schema.get("$defs", {}), model.__name__: model_schema}
    mirror_schema = msgspec.json.schema(mirror)
    mirror_definitions = mirror_schema["$defs"]
    mirrored = mirror_definitions[mirror.__name__]

    assert set(mirrored["properties"]) == set(model_schema["properties"])
    assert set(mirrored.get("required", ())) == set(model_schema.get("required", ()))
    numbers = set(number_fields(mirror)) if mirror is not contract.SnapshotRequest else set()
    for name, prop in mirrored["properties"].items():
        model_branches = _branches(model_schema["properties"][name], model_definitions)
        for branch in _branches(prop, mirror_definitions):
            kind = _kind(branch)
            if kind == "object":  # a nested mirror: its own parametrized case checks it
                continue
            if name in numbers and kind in ("string", "integer"):
                # The model's exact number is `number | string` without bounds: the mirror's
                # bounded text and integers are within it (their values: the tests below).
                assert {_kind(b) for b in model_branches} >= {"number", "string"}
                continue
            matching = [b for b in model_branches
                        if _kind(b) == kind or (kind == "string" and "format" in b)]
            assert any(_within(branch, other) for other in matching), (name, branch, matching)


def test_the_exact_number_fields_are_the_models_decimal_fields() -> None:
    for mirror, model_name in MIRRORS.items():
        model: type[BaseModel] = getattr(contract, model_name)
        decimal_fields = {name for name, field in model.model_fields.items()
                          if "Decimal" in str(field.annotation)}
        assert set(number_fields(mirror)) == decimal_fields, mirror.__name__


# --- all_plain_decimals against the pattern it stands for ---------------------------------------

number_like_text = st.text(alphabet="0123456789-.\n e+_٣", max_size=45)


@settings(max_examples=400, deadline=None)
@given(values=st.lists(st.one_of(
    number_like_text,
    st.from_regex(PLAIN_DECIMAL, fullmatch=True),
    st.from_regex(r"-?[0-9]{28,32}(\.[0-9]{28,32})?", fullmatch=True),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.none(), st.just(msgspec.UNSET)), max_size=12))
def test_all_plain_decimals_is_the_plain_pattern_on_each_text(values: list[Any]) -> None:
    expected = all(PLAIN_DECIMAL.fullmatch(value) is not None
                   for value in values if isinstance(value, str) and value)
    assert all_plain_decimals(values) is expected


@pytest.mark.parametrize("text", ["", "-", ".", "1.", ".5", "-.5", "1.2.3", "1..2", "--1", "1-",
                                  "+1", " 1", "1 ", "1\n", "1\n2", "1e3", "١٢٣", "1_0",
                                  "1" * 31, "0." + "0" * 31])
def test_texts_that_are_not_plain_decimals_are_refused(text: str) -> None:
    assert not all_plain_decimals(["1.5", text] if text else ["1.5", "x"])


@pytest.mark.parametrize("text", ["0", "-0", "007", "1.5", "-1234.5600", "9" * 30,
                                  "0." + "0" * 29 + "1", "9" * 20 + "." + "9" * 20])
def test_plain_decimals_pass(text: str) -> None:
    assert all_plain_decimals([text, None, msgspec.UNSET, 12])


# --- generated bodies through both readers --------------------------------------------------------
# A valid snapshot (every field of every model, in the forms the connector and other clients
# send), then one to three of its values replaced by hostile ones: each body tests a few wrong
# things at a time, so that the rest of it does not hide them.

plain_decimals = st.one_of(st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{1,8})?", fullmatch=True),
                           # The mirror takes at most 41 characters (40 digits and a point).
                           st.from_regex(PLAIN_DECIMAL, fullmatch=True).filter(
                               lambda text: len(text) <= 41),
                           st.integers(min_value=-(10**18), max_value=10**18))
hostile_decimals = st.one_of(
    st.from_regex(r"-?[0-9]{29,31}(\.[0-9]{9,12})?", fullmatch=True),
    st.sampled_from(["", "-", "1.", ".5", "+1", " 1", "1 ", "1e3", "1E-40", "0E-50", "NaN",
                     "nan", "Infinity", "inf", "-0", "0.000", "1_000", "١٢٣", "1\n", "1\n2",
                     "0." + "0" * 31 + "1", "9" * 31, "1" * 41]),
    number_like_text,
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**32), max_value=10**32),
    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.lists(st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


# What a stored text may hold: no lone UTF-16 surrogate and no NUL (JSON can escape both; the
# database stores neither, and the route refuses them on pydantic's path).
STORABLE_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def _repeated(lengths: st.SearchStrategy[int],
              characters: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Texts of those lengths, cheap to draw (one character repeated) even at 4,000."""
    return st.builds(lambda character, length: character * length,
                     STORABLE_CHARACTERS if characters is None else characters, lengths)


def _valid_text(max_length: int, min_length: int = 0) -> st.SearchStrategy[str]:
    return st.one_of(st.text(STORABLE_CHARACTERS, min_size=min_length,
                             max_size=min(max_length, 12)),
                     _repeated(st.integers(min_value=max_length - 2, max_value=max_length)))


def _hostile_text(max_length: int) -> st.SearchStrategy[Any]:
    return st.one_of(_repeated(st.integers(min_value=max_length - 1, max_value=max_length + 2),
                               st.characters()),
                     st.sampled_from(["", "\x00", "a\nb", "é" * (max_length + 1),
                                      "\U0001f600" * max_length]),
                     st.integers(), st.booleans(), st.lists(st.text(max_size=2), max_size=1))


def _plain_moment(moment: datetime, form: int) -> str:
    text = moment.isoformat()
    return [text, text.replace("+00:00", "Z")][form]


def _other_moment(moment: datetime, form: int) -> str:
    text = moment.isoformat()
    return [text.replace("T", " "), text.replace("T", "t"), text[:16] + text[19:],
            text.replace("+00:00", "z"), text[:19], text.replace("-", "", 2)][form]


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                         timezone(timedelta(hours=-23, minutes=-59)),
                         timezone(timedelta(hours=14))])
valid_timestamps = st.builds(
    _plain_moment, st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(8999, 12, 30),
                                timezones=ZONES), st.integers(min_value=0, max_value=1))
hostile_timestamps = st.one_of(
    st.builds(_plain_moment, st.datetimes(min_value=datetime(1, 1, 2),
                                          max_value=datetime(9999, 12, 30), timezones=ZONES),
              st.integers(min_value=0, max_value=1)),
    st.builds(_other_moment, st.datetimes(min_value=datetime(2000, 1, 2),
                                          max_value=datetime(8999, 12, 30), timezones=ZONES),
              st.integers(min_value=0, max_value=5)),
    st.sampled_from(["2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z",
                     "2026-01-01T23:59:60Z", "2026-01-01T00:00:00.1234567Z",
                     "2026-01-01T00:00:00+24:00", "1999-12-31T23:59:59Z",
                     "2000-01-01T00:00:00+00:01", "9000-01-01T00:00:00Z",
                     "8999-12-31T23:59:59-01:00", "2026-01-01T00:00:00Z\n",
                     "2026-01-01T00:00:00-00:00", "2026-01-01T00:00:00.Z", "2026-13-01T00:00:00Z",
                     "0000-01-01T00:00:00Z", "2026-01-01T00:00:00+0100"]),
    st.integers(), st.none())
hostile_uuids = st.one_of(st.uuids().map(lambda value: value.hex),
                          st.uuids().map(lambda value: str(value).upper()),
                          st.uuids().map(lambda value: "{" + str(value) + "}"),
                          st.uuids().map(lambda value: "urn:uuid:" + str(value)),
                          st.uuids().map(lambda value: str(value)[:-1]),
                          st.text(alphabet=string.hexdigits + "-", max_size=40), st.integers(),
                          st.none())
valid_conids = st.integers(min_value=0, max_value=2**62)
hostile_conids = st.one_of(st.integers(min_value=-3, max_value=-1),
                           st.integers(min_value=2**62 - 1, max_value=2**62 + 2),
                           st.sampled_from([2**63, 2**64, 1.0, True, None]),
                           st.text(alphabet="0123456789", min_size=1, max_size=5))
valid_order_ids = st.one_of(_valid_text(contract.ORDER_ID_MAX_LENGTH, min_length=1),
                            st.integers(min_value=-(2**63), max_value=2**63 - 1))
hostile_order_ids = st.one_of(st.just(""), st.text(min_size=64, max_size=66),
                              st.integers(min_value=2**63 - 2, max_value=2**70),
                              st.integers(min_value=-(2**70), max_value=-(2**63) + 2),
                              st.floats(allow_nan=False), st.none(), st.booleans())


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, st.none())


POSITION_TEXTS = {"symbol": contract.SYMBOL_MAX_LENGTH, "description": 4000,
                  "asset_class": contract.CODE_MAX_LENGTH,
                  "currency": contract.CURRENCY_MAX_LENGTH}
ORDER_TEXTS = {"symbol": contract.SYMBOL_MAX_LENGTH, "order_type": contract.CODE_MAX_LENGTH,
               "trailing_unit": contract.SHORT_CODE_MAX_LENGTH,
               "time_in_force": contract.SHORT_CODE_MAX_LENGTH,
               "status": contract.CODE_MAX_LENGTH}
valid_positions = st.fixed_dictionaries(
    {"conid": valid_conids, "quantity": plain_decimals},
    optional={**{name: _optional(_valid_text(length)) for name, length in POSITION_TEXTS.items()},
              **{name: _optional(plain_decimals) for name in (
                  "market_price", "market_value", "multiplier", "average_cost",
                  "unrealized_pnl")}})
valid_stop_orders = st.fixed_dictionaries(
    {"order_id": valid_order_ids, "conid": valid_conids, "side": st.sampled_from(["BUY", "SELL"])},
    optional={**{name: _optional(_valid_text(length)) for name, length in ORDER_TEXTS.items()},
              **{name: _optional(plain_decimals) for name in (
                  "quantity", "stop_price", "limit_price", "trailing_amount")}})
valid_accounts = st.fixed_dictionaries(
    {"account_id": _valid_text(contract.ACCOUNT_ID_MAX_LENGTH, min_length=1)},
    optional={"base_currency": _optional(_valid_text(contract.CURRENCY_MAX_LENGTH)),
              "net_liquidation": _optional(plain_decimals), "cash": _optional(plain_decimals),
              "positions": _optional(st.lists(valid_positions, max_size=3)),
              "stop_orders": _optional(st.lists(valid_stop_orders, max_size=2))})
valid_snapshots = st.fixed_dictionaries({
    "snapshot_id": st.uuids().map(str), "taken_at": valid_timestamps,
    "accounts": st.lists(valid_accounts, max_size=3,
                         unique_by=lambda account: account["account_id"])})

DECIMAL_FIELDS = {"quantity", "market_price", "market_value", "multiplier", "average_cost",
                  "unrealized_pnl", "stop_price", "limit_price", "trailing_amount",
                  "net_liquidation", "cash"}
TEXT_FIELDS = {**POSITION_TEXTS, **ORDER_TEXTS, "account_id": contract.ACCOUNT_ID_MAX_LENGTH,
               "base_currency": contract.CURRENCY_MAX_LENGTH}


def _hostile_value(name: str) -> st.SearchStrategy[Any]:
    """Values a field called `name` should mostly refuse (some are valid after all)."""
    if name in DECIMAL_FIELDS:
        return hostile_decimals
    if name in TEXT_FIELDS:
        return _hostile_text(TEXT_FIELDS[name])
    special: dict[str, st.SearchStrategy[Any]] = {
        "conid": hostile_conids, "order_id": hostile_order_ids, "taken_at": hostile_timestamps,
        "snapshot_id": hostile_uuids,
        "side": st.sampled_from(["buy", "Sell", "", "HOLD", None, 1]),
        "accounts": st.one_of(st.none(), st.just({}), st.lists(st.just({}), max_size=1)),
        "positions": st.one_of(st.just({}), st.just([None]), st.just([1]), st.just("x")),
        "stop_orders": st.one_of(st.just({}), st.just([None]), st.just(["x"]))}
    return special.get(name, st.integers())  # an extra key added earlier


def _places(body: Any) -> list[tuple[dict[str, Any], str]]:
    """Every (object, key) of `body`, nested ones included."""
    found: list[tuple[dict[str, Any], str]] = []
    if isinstance(body, dict):
        for key, value in body.items():
            found.append((body, key))
            found.extend(_places(value))
    elif isinstance(body, list):
        for item in body:
            found.extend(_places(item))
    return found


@st.composite
def hostile_snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """A valid snapshot with one to three things wrong (or, now and then, nothing)."""
    body = draw(valid_snapshots)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        places = _places(body)
        owner, key = places[draw(st.integers(min_value=0, max_value=len(places) - 1))]
        change = draw(st.sampled_from(["value", "value", "value", "drop", "extra", "repeat"]))
        if change == "value":
            owner[key] = draw(_hostile_value(key))
        elif change == "drop":
            del owner[key]
        elif change == "extra":
            owner[draw(st.sampled_from(["shares", key.upper(), key + " ", "", "__class__"]))] = 1
        elif isinstance(owner.get("accounts"), list) and owner["accounts"]:
            owner["accounts"].append(dict(owner["accounts"][0]))  # the same account_id twice
    return body


def _pydantic_reading(raw: bytes) -> contract.SnapshotRequest | None:
    try:
        return contract.SnapshotRequest.model_validate_json(raw)
    except ValidationError:
        return None


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=hostile_snapshots(), ascii_only=st.booleans())
def test_the_mirror_accepts_only_what_pydantic_accepts_and_reads_it_alike(
        body: dict[str, Any], ascii_only: bool) -> None:
    raw = json.dumps(body, ensure_ascii=ascii_only, separators=(",", ":")).encode()
    found = facts_from_bytes(raw)
    if found is None:
        return
    model = _pydantic_reading(raw)
    assert model is not None, raw
    facts, keys_given = found
    assert facts == SnapshotFacts.of(model)
    assert keys_given == fields_given(model)


@settings(max_examples=300, deadline=None)
@given(body=valid_snapshots)
def test_the_mirror_reads_every_plain_valid_snapshot(body: dict[str, Any]) -> None:
    # Unescaped: an escaped surrogate pair (an emoji as \\ud83d\\ude00) takes pydantic's path.
    raw = json.dumps(body, ensure_ascii=False).encode()
    model = _pydantic_reading(raw)
    assert model is not None, raw
    found = facts_from_bytes(raw)
    assert found is not None, raw
    assert found[0] == SnapshotFacts.of(model)
    assert found[1] == fields_given(model)


def test_the_connectors_own_snapshot_is_read_by_the_mirror_with_exact_values() -> None:
    body = snapshot_body(positions=50, stop_orders=10, accounts=2,
                         net_liquidation="123456789012345678.123456789012")
    found = facts_from_bytes(json.dumps(body).encode())
    assert found is not None
    facts = found[0]
    assert [account.net_liquidation for account in facts.accounts] == [
        contract.SnapshotRequest.model_validate(body).accounts[0].net_liquidation] * 2
    assert str(facts.accounts[0].net_liquidation) == "123456789012345678.123456789012"
    assert (facts.positions, facts.stop_orders) == (100, 20)
    assert facts.taken_at.tzinfo is UTC


# --- the route: the mirror for plain bodies, pydantic's answers for the rest ----------------------

SNAPSHOTS = "/api/v1/connector/snapshots"


@pytest.fixture
def world(app: Any, client: Any) -> World:
    return build_world(app, client)


def test_a_plain_snapshot_is_stored_without_pydantic(world: World,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> Any:
        raise AssertionError("pydantic read a plain snapshot")

    monkeypatch.setattr(snapshot_reader, "parse_body_bytes", refuse)
    body = snapshot_body(positions=5, stop_orders=2)
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    assert response.status_code == 201, response.get_json()
    again = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    assert again.status_code == 200 and again.get_json()["duplicate"] is True


@pytest.mark.parametrize(("change", "message"), [
    (lambda body: body["accounts"][0]["positions"][0].update(quantity="1E+40"),
     "accounts[0].positions[0].quantity: Value error, must be between 1E-30 and 1E+30 in size"),
    (lambda body: body["accounts"][0]["positions"][0].update(shares=3),
     "accounts[0].positions[0].shares: unknown field"),
    (lambda body: body.update(taken_at="2026-01-01T00:00:00"),
     "taken_at: Input should have timezone info"),
    (lambda body: body["accounts"].append(dict(body["accounts"][0])),
     "accounts: Value error, accounts[1] repeats an account_id sent earlier"),
])
def test_a_body_the_mirror_refuses_gets_pydantics_answer(world: World, change: Any,
                                                        message: str) -> None:
    body = snapshot_body(positions=2, stop_orders=1)
    change(body)
    response = world.client.post(SNAPSHOTS, json=body, headers=world.key_headers())
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == message


def test_a_key_given_twice_is_refused_on_the_mirrors_path(world: World) -> None:
    raw = json.dumps(snapshot_body(positions=1, stop_orders=0), separators=(",", ":"))
    twice = raw.replace('"symbol":"SYM0"', '"symbol":"SYM0","symbol":"OTHER"')
    assert twice != raw and facts_from_bytes(twice.encode()) is not None
    response = world.client.post(SNAPSHOTS, data=twice, headers={
        **world.key_headers(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "appears twice" in response.get_json()["error"]["message"]
