"""`doctor`'s Flex checks: set up or not, the token valid, the query's sections, expiry soon.

Only when Flex is set up does `doctor` contact IBKR's Flex service: one statement for the
latest published day (a SendRequest and its GetStatement polls, paced with every other Flex
call). Each failure names the Client Portal page where it is fixed.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from veracity_connector.credentials import CredentialError
from veracity_connector.history.backfill import latest_published_day
from veracity_connector.history.flex_client import FlexClient
from veracity_connector.history.flex_errors import (
    QUERY_MISSING_SECTION,
    QUERY_PAGE,
    TOKEN_PAGE,
    FlexError,
)
from veracity_connector.history.flex_pacing import FlexPacer
from veracity_connector.history.flex_setup import flex_configured, load_flex_setup
from veracity_connector.history.flex_statement import (
    OPTIONAL_SECTIONS,
    REQUIRED_SECTIONS,
    statement_sections,
)
from veracity_connector.settings import Folders, Settings

if TYPE_CHECKING:
    from veracity_connector.doctor import Check

TOKEN_LIFETIME_WARNING_DAYS = 30
LONGEST_TOKEN_LIFETIME_DAYS = 365  # IBKR's longest "Should Expire After" (commonly said)


def flex_checks(settings: Settings, folders: Folders) -> list[Check]:
    """The Flex checks (no network when Flex is not set up)."""
    from veracity_connector.doctor import Check

    if not flex_configured(folders.data_dir):
        return [Check("flex", "ok", "not set up: the connector contacts no IBKR service but "
                      "the gateway (optional: `ibkr-connector flex set`, docs/history.md)")]
    try:
        setup = load_flex_setup(settings.key_store, folders.data_dir)
    except CredentialError as error:
        return [Check("flex token", "fail", str(error), "see the message above")]
    if setup is None:
        return [Check("flex token", "fail", "the query id is saved but the token is missing",
                      "run `ibkr-connector flex set` again (or `flex remove`)")]
    day = latest_published_day(time.time())
    client = FlexClient(settings.flex_url, setup.token, setup.query_id,
                        FlexPacer(folders.data_dir), proxy=settings.proxy,
                        stop_event=threading.Event())
    try:
        statement = client.fetch(day - timedelta(days=6), day)
        sections, _count = statement_sections(statement.xml)
    except FlexError as error:
        level = "warn" if error.problem.retry else "fail"
        return [Check("flex", level, f"{error.state}: {error.problem.message}",
                      error.problem.next_step)]
    finally:
        client.close()
    checks = [Check("flex token", "ok", f"IBKR's Flex service accepts the token and query "
                    f"{setup.query_id} ({client.requests} request(s))")]
    missing = [name for name in REQUIRED_SECTIONS if name not in sections]
    optional = [name for name in OPTIONAL_SECTIONS if name not in sections]
    if missing:
        checks.append(Check("flex query", "fail", f"the query lacks {', '.join(missing)}",
                            QUERY_MISSING_SECTION.next_step))
    elif optional:
        checks.append(Check("flex query", "warn", "the query has no Open Positions: Veracity "
                            "gets daily values but no end-of-day positions",
                            f"tick Open Positions (Summary) in the query in {QUERY_PAGE}"))
    else:
        checks.append(Check("flex query", "ok", "NAV in base and open positions are in the query"))
    if setup.set_at is not None:
        age_days = (time.time() - setup.set_at) / 86400
        left = LONGEST_TOKEN_LIFETIME_DAYS - age_days
        if left < TOKEN_LIFETIME_WARNING_DAYS:
            checks.append(Check(
                "flex token expiry", "warn",
                f"the token was entered {age_days:.0f} days ago; IBKR tokens last at most a "
                "year (the lifetime chosen at generation)",
                f"generate a new token in {TOKEN_PAGE} before it expires, then run "
                "`ibkr-connector flex set`"))
    return checks
