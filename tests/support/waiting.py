"""The one way tests wait for something to happen: poll a condition until it holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
LAST_SEEN_CHARS = 1000  # a whole portfolio would bury the message


class WaitTimedOut(TimeoutError):
    """`wait_until` gave up; the message says what was awaited and what was last seen."""


def wait_until(condition: Callable[[], T], timeout_s: float,
               message: str | Callable[[], str] = "the condition", *,
               interval_s: float = 0.1,
               retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """Call `condition` until it returns something truthy, and return that.

    After `timeout_s` it raises `WaitTimedOut` naming `message` (a callable is asked at that
    moment, e.g. for a log tail) and the last value or exception seen. Exceptions of the types in
    `retry_on` mean "not yet" (a server still starting); any other exception ends the wait at
    once, so a condition can fail early, e.g. when the process it waits for has exited.
    The condition is always tried at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except retry_on as error:
            last_error = error
            last_seen = f"{type(error).__name__}: {error}"
        else:
            if value:
                return value
            last_error = None
            last_seen = repr(value)[:LAST_SEEN_CHARS]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            what = message() if callable(message) else message
            raise WaitTimedOut(f"timed out after {timeout_s:g} s waiting for {what}\n"
                               f"last seen: {last_seen}") from last_error
        time.sleep(min(interval_s, remaining))
