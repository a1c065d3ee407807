"""Decimal arithmetic wide enough for every number the schema lets in.

Stored numbers may be as large as 1E+30 or as small as 1E-30 with up to 40 digits
(server.schemas). Python's default context keeps 28 digits, so deriving a value from them
(quantity x price x multiplier, a percentage of a tiny price) and rounding it to cents with
`quantize` could raise InvalidOperation and turn a page into a 500. Derived figures are computed
in this context instead: 120 digits hold any product of three such numbers exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, localcontext
from typing import ParamSpec, TypeVar

WIDE_CONTEXT = Context(prec=120, rounding=ROUND_HALF_EVEN)

Params = ParamSpec("Params")
Result = TypeVar("Result")


def with_wide_decimals(function: Callable[Params, Result]) -> Callable[Params, Result]:
    """Run `function` with WIDE_CONTEXT as the decimal context of this thread."""
    @functools.wraps(function)
    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with localcontext(WIDE_CONTEXT):
            return function(*args, **kwargs)
    return wrapper
