"""IBKR Flex Web Service answers as states: each error code → a state word, a message, a next step.

IBKR's error table (ibkr-flex.md §5). Every failure a person can meet has its own state, so the
tray, `flex status` and `doctor` say what happened and what to do. `retry` says whether a later
identical request may succeed (the duty tries again later, bounded); otherwise the person must act.
"""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_PAGE = "Client Portal → Settings → Account Settings → Flex Web Service"  # noqa: S105
QUERY_PAGE = "Client Portal → Performance & Reports → Flex Queries"
SET_AGAIN = "then run `ibkr-connector flex set` (or the tray's “Add daily positions history " \
            "(Flex)…”) with it"


@dataclass(frozen=True)
class FlexProblem:
    """What a failure means for the person."""

    state: str
    message: str
    next_step: str
    retry: bool


TOKEN_INVALID = FlexProblem(
    "token_invalid", "IBKR does not know this Flex token (it was mistyped, or a newer token "
    "replaced it).", f"Generate a new token in {TOKEN_PAGE}, {SET_AGAIN}.", False)
TOKEN_EXPIRED = FlexProblem(
    "token_expired", "The Flex token has expired.",
    f"Generate a new token in {TOKEN_PAGE} (choose a long “Should Expire After”), {SET_AGAIN}.",
    False)
IP_NOT_ALLOWED = FlexProblem(
    "ip_not_allowed", "The Flex token is bound to another IP address (“Valid For IP Address”).",
    f"Generate a token without an IP restriction, or for this network's address, in "
    f"{TOKEN_PAGE}, {SET_AGAIN}.", False)
SERVICE_INACTIVE = FlexProblem(
    "service_inactive", "The Flex Web Service is not activated for this account.",
    f"Tick the status box to activate it in {TOKEN_PAGE}.", False)
QUERY_INVALID = FlexProblem(
    "query_invalid", "IBKR does not know this Flex query id.",
    f"Check the query's id in {QUERY_PAGE} (the number next to the saved Activity Flex "
    f"Query), {SET_AGAIN}.", False)
QUERY_LEGACY = FlexProblem(
    "query_invalid", "The Flex query is a legacy query, which IBKR no longer runs.",
    f"Create an Activity Flex Query in {QUERY_PAGE} (docs/history.md lists the sections), "
    f"{SET_AGAIN}.", False)
QUERY_MISSING_SECTION = FlexProblem(
    "query_missing_section", "The Flex query lacks a section Veracity needs.",
    f"Edit the query in {QUERY_PAGE}: tick Net Asset Value (NAV) in Base (daily, “Equity "
    "Summary in Base”) and Open Positions (Summary), output XML, dates yyyyMMdd.", False)
ACCOUNT_INVALID = FlexProblem(
    "account_invalid", "IBKR says the account of this Flex query is invalid.",
    f"Check the accounts the query covers in {QUERY_PAGE}.", False)
TOO_MANY_REQUESTS = FlexProblem(
    "too_many_requests", "IBKR's Flex service says too many requests came with this token "
    "(its limit: 1 per second, 10 per minute).",
    "Nothing to do: the connector waits and tries again later. Another program using the same "
    "token counts too.", True)
SERVICE_BUSY = FlexProblem(
    "service_busy", "IBKR's Flex service is busy and could not make the statement now.",
    "Nothing to do: the connector tries again later.", True)
NOT_READY = FlexProblem(
    "not_ready", "IBKR has not finished the statement (or its day's data) yet.",
    "Nothing to do: the connector tries again later.", True)
STATEMENT_UNAVAILABLE = FlexProblem(
    "statement_unavailable", "IBKR has no statement for these days (before the account "
    "opened, or not published yet).", "Nothing to do: the connector asks again tomorrow.", True)
INVALID_REQUEST = FlexProblem(
    "invalid_request", "IBKR could not validate the request (a bad token, or a query too large "
    "for a year: many sections or accounts).",
    f"Remove sections Veracity does not need from the query in {QUERY_PAGE}, or generate a new "
    f"token in {TOKEN_PAGE}, {SET_AGAIN}.", False)
MALFORMED = FlexProblem(
    "malformed_xml", "IBKR's answer could not be read as a Flex statement (not XML, or a query "
    "whose output is CSV or whose dates are not yyyyMMdd).",
    f"Set the query's format to XML and its date format to yyyyMMdd in {QUERY_PAGE}; if it "
    "persists the connector tries again later.", True)
UNREACHABLE = FlexProblem(
    "unreachable", "IBKR's Flex service cannot be reached.",
    "Check the internet connection (and the proxy setting); the connector tries again later.",
    True)

# The codes of IBKR's table (1019 is not here: it is "poll again", not a failure).
PROBLEMS_BY_CODE: dict[int, FlexProblem] = {
    1001: SERVICE_BUSY, 1003: STATEMENT_UNAVAILABLE, 1004: NOT_READY, 1005: NOT_READY,
    1006: NOT_READY, 1007: NOT_READY, 1008: NOT_READY, 1009: SERVICE_BUSY, 1010: QUERY_LEGACY,
    1011: SERVICE_INACTIVE, 1012: TOKEN_EXPIRED, 1013: IP_NOT_ALLOWED, 1014: QUERY_INVALID,
    1015: TOKEN_INVALID, 1016: ACCOUNT_INVALID, 1018: TOO_MANY_REQUESTS, 1020: INVALID_REQUEST,
    1021: SERVICE_BUSY,
}


class FlexError(Exception):
    """A Flex fetch failed; `problem` says what it means, `code` is IBKR's code if any."""

    def __init__(self, problem: FlexProblem, code: int | None = None,
                 detail: str = "") -> None:
        super().__init__(f"{problem.message}{f' ({detail})' if detail else ''}")
        self.problem = problem
        self.code = code
        self.detail = detail

    @property
    def state(self) -> str:
        """The state word (token_expired, ip_not_allowed, …)."""
        return self.problem.state


def problem_for_code(code: int) -> FlexProblem:
    """The problem for IBKR's `code`; an unknown code is treated as transient (busy)."""
    return PROBLEMS_BY_CODE.get(code, SERVICE_BUSY)
