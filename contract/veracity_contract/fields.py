"""Building blocks for request models: strict (extra fields forbidden), exact decimals, UTC times.

Every request model derives from `StrictModel`, so an unknown field anywhere — top level or inside
a nested position or order — is a 400 naming it, never silently dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

MAX_MAGNITUDE_DIGITS = 30
MAX_SIGNIFICANT_DIGITS = 40
# Snapshot and heartbeat times: nothing the connector reports predates this.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(9000, 1, 1, tzinfo=UTC)


def reasonable_magnitude(value: Decimal) -> Decimal:
    """`value` if PostgreSQL's NUMERIC can store it and it prints in a few dozen characters."""
    # "1E+999999" is a valid decimal that PostgreSQL's NUMERIC refuses and that would print as a
    # million digits; no price or quantity is that big or that small. (A plain check here costs a
    # third of pydantic's max_digits, and snapshots carry hundreds of numbers.)
    if not -MAX_MAGNITUDE_DIGITS <= value.adjusted() <= MAX_MAGNITUDE_DIGITS:
        raise ValueError(f"must be between 1E-{MAX_MAGNITUDE_DIGITS} and "
                         f"1E+{MAX_MAGNITUDE_DIGITS} in size")
    # A thousand-digit fraction is within those bounds but overflows PostgreSQL's NUMERIC; the
    # gateway's numbers have at most ~20 significant digits. str() shows every digit of the
    # coefficient, so a short text cannot have too many; only long ones are counted (as_tuple
    # costs ~0.7 µs, half of a snapshot's validation when run on every number).
    if len(str(value)) > MAX_SIGNIFICANT_DIGITS and (
            len(value.as_tuple().digits) > MAX_SIGNIFICANT_DIGITS):
        raise ValueError(f"must have at most {MAX_SIGNIFICANT_DIGITS} significant digits")
    return value


# Money and quantities: exact, finite, and of a sane size.
ExactNumber = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(reasonable_magnitude)]
ShortText = Annotated[str, StringConstraints(max_length=255)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
LONG_TEXT_MAX_LENGTH = 4000
LongText = Annotated[str, StringConstraints(max_length=LONG_TEXT_MAX_LENGTH)]


def _to_utc(moment: datetime) -> datetime:
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise ValueError("is out of range") from None
    # Year 999 would be stored as text that sorts after 2026 on SQLite and become "current".
    if not EARLIEST_TIMESTAMP <= moment < LATEST_TIMESTAMP:
        raise ValueError(f"must be between {EARLIEST_TIMESTAMP.year} and "
                         f"{LATEST_TIMESTAMP.year}")
    return moment


def _iso_text_only(value: object) -> object:
    # pydantic would also read 1700000000 as a Unix time; the contract says ISO 8601 text.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    return value


UtcTimestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text_only), AfterValidator(_to_utc)]
# JSON integers only: pydantic's lax mode would also take "42" (a string) for an int.
StrictInt = Annotated[int, Strict()]


class StrictModel(BaseModel):
    """A request model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


class EmptyBody(StrictModel):
    """No fields: an empty body or {} (anything else is rejected)."""
