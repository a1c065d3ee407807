"""The health summary the connector sends with its heartbeats (contract: `HeartbeatRequest.health`).

Veracity's Profile page shows it with each check's fix, so a person sees why syncing is stuck
without opening a terminal. It is made from `doctor`'s checks of this computer (settings, key,
gateway folder, Java: `doctor.local_checks`) and any checks other parts add
(`HealthReporter.add_source`: e.g. a Flex check, the session guardian's state), run at most
every HEALTH_REFRESH_S (not at every heartbeat), and cut to the contract's limits.

Nothing in it may name the person or hold a secret: home folders become `~`, the user name in
a path becomes `<user>`, and anything shaped like a key or pairing token is cut (`scrub`).
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from veracity_connector.doctor import Check, local_checks
from veracity_connector.settings import Folders, Settings
from veracity_contract.connector import (
    HEALTH_FIX_MAX_LENGTH,
    HEALTH_MAX_CHECKS,
    HEALTH_MESSAGE_MAX_LENGTH,
    HEALTH_NAME_MAX_LENGTH,
)

logger = logging.getLogger(__name__)

HEALTH_REFRESH_S = 300.0  # the checks read the disk and the credential store: every 5 minutes
LEVELS = ("ok", "warn", "fail")
USER_MARK = "<user>"
SECRET = re.compile(r"\bvc[kt]_[A-Za-z0-9_\-]+")
NAME_ALLOWED = re.compile(r"[^a-z0-9 ._-]+")
# A source of more checks; it must be quick and must not raise (a failure is reported as one).
CheckSource = Callable[[], list[Check]]


class Scrubber:
    """Takes the person out of a text: their home folder, their user name in paths, secrets."""

    def __init__(self, home: str | Path | None, usernames: Iterable[str]) -> None:
        self._homes: list[re.Pattern[str]] = []
        if home:
            text = str(home).rstrip("/\\")
            variants = {text, text.replace("\\", "/"), text.replace("/", "\\")}
            # Longest first: C:\\Users\\alice before a shorter spelling of it.
            for variant in sorted(variants, key=len, reverse=True):
                if len(variant) > 1:
                    self._homes.append(re.compile(re.escape(variant) + r"(?=[\\/]|\b|$)",
                                                  re.IGNORECASE))
        names = sorted({name for name in usernames if name and len(name) >= 2}, key=len,
                       reverse=True)
        # The user name as a folder of a path: /home/alice, C:\\Users\\alice\\..., /Users/alice.
        self._names = [re.compile(r"(?<=[\\/])" + re.escape(name) + r"(?=[\\/]|$|[\s\"'),;:])",
                                  re.IGNORECASE) for name in names]

    def __call__(self, text: str) -> str:
        for home in self._homes:
            text = home.sub("~", text)
        for name in self._names:
            text = name.sub(USER_MARK, text)
        return SECRET.sub(lambda found: found.group(0)[:4] + "…", text)


def this_persons_scrubber() -> Scrubber:
    """A scrubber for whoever runs this process."""
    names: set[str] = set()
    try:
        names.add(getpass.getuser())
    except Exception:  # no user name known (a service account): nothing to add
        logger.debug("no user name for the health summary's scrubbing")
    for variable in ("USERNAME", "USER", "LOGNAME"):
        if os.environ.get(variable):
            names.add(os.environ[variable])
    try:
        home: Path | None = Path.home()
    except RuntimeError:
        home = None
    if home is not None:
        names.add(home.name)
    return Scrubber(home, names)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_name(name: str) -> str:
    """A check's name as the contract takes it: lower case, a-z 0-9 space . _ -, 1-40 long."""
    cleaned = NAME_ALLOWED.sub("-", name.strip().lower()).strip(" ._-")
    return (cleaned or "check")[:HEALTH_NAME_MAX_LENGTH]


def summary_of(checks: Iterable[Check], checked_at: datetime,
               scrub: Callable[[str], str]) -> dict[str, Any]:
    """The contract's `health` object: scrubbed, each name once (its worst level), cut."""
    merged: dict[str, dict[str, str]] = {}
    for check in checks:
        name = check_name(check.name)
        level = check.level if check.level in LEVELS else "warn"
        entry = {"name": name, "level": level,
                 "message": _cut(scrub(check.detail), HEALTH_MESSAGE_MAX_LENGTH),
                 "fix": _cut(scrub(check.fix), HEALTH_FIX_MAX_LENGTH)}
        seen = merged.get(name)
        if seen is None or LEVELS.index(level) > LEVELS.index(seen["level"]):
            merged[name] = entry
    return {"checked_at": checked_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "checks": list(merged.values())[:HEALTH_MAX_CHECKS]}


class HealthReporter:
    """The current summary, made again when older than `refresh_s` (monotonic `clock`)."""

    def __init__(self, sources: Iterable[CheckSource], *,
                 clock: Callable[[], float] = time.monotonic,
                 refresh_s: float = HEALTH_REFRESH_S,
                 scrub: Callable[[str], str] | None = None) -> None:
        self._sources = list(sources)
        self._clock = clock
        self._refresh_s = refresh_s
        self._scrub = scrub or this_persons_scrubber()
        self._summary: dict[str, Any] | None = None
        self._made_at: float | None = None
        self.runs = 0  # how many times the checks ran (tests and logs)

    def add_source(self, source: CheckSource) -> None:
        """More checks for the summary (from the next refresh on)."""
        self._sources.append(source)
        self._made_at = None

    def summary(self) -> dict[str, Any] | None:
        """The summary to send now (None when there is nothing to say); never raises."""
        now = self._clock()
        if self._made_at is None or now - self._made_at >= self._refresh_s:
            self._made_at = now
            self.runs += 1
            checks: list[Check] = []
            for source in self._sources:
                try:
                    checks += source()
                except Exception as error:  # a broken check is a finding too
                    logger.warning("a health check failed to run: %s", error)
                    checks.append(Check(getattr(source, "__name__", "check"), "warn",
                                        f"the check could not run ({type(error).__name__})"))
            self._summary = summary_of(checks, datetime.now(UTC), self._scrub) if checks \
                else None
        return self._summary


class KeyState(Protocol):
    """What the engine's key keeper tells about the key (veracity_connector/engine/keys.py)."""

    problem: str


def engine_sources(settings: Settings, folders: Folders, keys: KeyState) -> list[CheckSource]:
    """The running connector's checks: this computer's (doctor's, without reading the key
    again) and its key keeper's view of the key."""
    def computer() -> list[Check]:
        return local_checks(settings, folders, key=False)

    def key() -> list[Check]:
        if keys.problem:
            return [Check("key", "fail", keys.problem,
                          "run `ibkr-connector doctor` on this computer for the details")]
        return [Check("key", "ok", "a key is stored")]

    return [computer, key]
