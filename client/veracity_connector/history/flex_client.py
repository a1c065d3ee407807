"""Client of IBKR's Flex Web Service (v3): SendRequest → reference code → GetStatement.

Two steps over HTTPS GET (ibkr-flex.md §2-5): `SendRequest?t=TOKEN&q=QUERY&v=3[&fd=&td=]`
answers a `FlexStatementResponse` with a reference code and the `Url` to fetch it from; then
`GetStatement?t=TOKEN&q=REFERENCE&v=3` answers 1019 ("generation in progress") until the
statement (`FlexQueryResponse`) is ready. Errors come as XML in an HTTP 200: the status is read
from the XML. Here:

* every call takes a slot from the shared `FlexPacer` (1 s apart, under 10 a minute per token);
* 1019 is polled with growing waits, bounded in count and time; a 1018 while polling waits
  longer; 1017 (reference gone) starts again at step 1 once; every other code is a `FlexError`
  whose problem names the state and the next step (`flex_errors`);
* step 2 goes to the `Url` step 1 named only if it is IBKR's (or the configured service's) own
  host — the token must go nowhere else;
* the token is never logged: it sits in every URL's query string, so no URL is logged either.
"""

from __future__ import annotations

import logging
import platform
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

import requests

from veracity_connector.history.flex_errors import (
    MALFORMED,
    NOT_READY,
    TOO_MANY_REQUESTS,
    UNREACHABLE,
    FlexError,
    problem_for_code,
)
from veracity_connector.history.flex_pacing import FlexPacer
from veracity_connector.proxies import request_proxies

logger = logging.getLogger(__name__)

DEFAULT_FLEX_URL = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService"
IBKR_DOMAIN = ".interactivebrokers.com"
IN_PROGRESS = 1019
TOO_MANY = 1018
REFERENCE_INVALID = 1017
# Waits before each GetStatement poll: the first soon (small statements are ready at once),
# then growing; about four minutes in all, a dozen polls at most (IBKR: 10 a minute).
POLL_WAITS_S: tuple[float, ...] = (1, 2, 4, 6, 10, 15, 20, 30, 30, 30, 40, 50)
TOO_MANY_WAIT_S = 10.0


@dataclass(frozen=True)
class FlexStatementBytes:
    """A statement as IBKR sent it, and how many requests it took."""

    xml: bytes
    requests: int


class FlexClient:
    """Fetches one Flex query's statement for a date range, politely."""

    def __init__(self, base_url: str, token: str, query_id: str, pacer: FlexPacer, *,
                 proxy: str | None = None, timeout_s: float = 30.0,
                 poll_waits_s: Sequence[float] = POLL_WAITS_S,
                 stop_event: threading.Event | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.query_id = query_id
        self._pacer = pacer
        self._timeout_s = timeout_s
        self._poll_waits_s = tuple(poll_waits_s)
        self._stop_event = stop_event or threading.Event()
        self._proxies = request_proxies(proxy)
        self._session = requests.Session()
        # IBKR requires a User-Agent naming the technology and its version.
        self._session.headers["User-Agent"] = f"Python/{platform.python_version()}"
        self.requests = 0

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()

    def fetch(self, from_day: date | None = None, to_day: date | None = None
              ) -> FlexStatementBytes:
        """The statement for the query (optionally for `from_day`..`to_day`); FlexError if not."""
        started = self.requests
        for _attempt in range(2):  # a second step 1 only after 1017 (reference code gone)
            reference, statement_url = self._send_request(from_day, to_day)
            xml = self._poll(reference, statement_url)
            if xml is not None:
                return FlexStatementBytes(xml, self.requests - started)
        raise FlexError(problem_for_code(REFERENCE_INVALID), REFERENCE_INVALID,
                        "the reference code was refused twice")

    def _send_request(self, from_day: date | None, to_day: date | None) -> tuple[str, str]:
        params = {"t": self._token, "q": self.query_id, "v": "3"}
        if from_day is not None and to_day is not None:
            params["fd"] = from_day.strftime("%Y%m%d")
            params["td"] = to_day.strftime("%Y%m%d")
        root = self._get(f"{self.base_url}/SendRequest", params)
        if root is None or root.tag != "FlexStatementResponse":
            raise FlexError(MALFORMED, None, "SendRequest did not answer a FlexStatementResponse")
        status = (root.findtext("Status") or "").strip()
        if status != "Success":
            raise self._error_of(root)
        reference = (root.findtext("ReferenceCode") or "").strip()
        if not reference.isdigit():
            raise FlexError(MALFORMED, None, "SendRequest answered no reference code")
        return reference, self._statement_url((root.findtext("Url") or "").strip())

    def _statement_url(self, url: str) -> str:
        fallback = f"{self.base_url}/GetStatement"
        if not url:
            return fallback
        host = (urlsplit(url).hostname or "").lower()
        own_host = (urlsplit(self.base_url).hostname or "").lower()
        if urlsplit(url).scheme in {"http", "https"} and (
                host == own_host or host.endswith(IBKR_DOMAIN)):
            return url
        logger.warning("the Flex service named a statement address on another host; using %s's "
                       "own GetStatement instead", own_host)
        return fallback

    def _poll(self, reference: str, statement_url: str) -> bytes | None:
        """The statement's bytes; None if the reference code expired (start again)."""
        params = {"t": self._token, "q": reference, "v": "3"}
        waits = list(self._poll_waits_s)
        while waits:
            if self._stop_event.wait(waits.pop(0)):
                raise FlexError(NOT_READY, None, "stopped while waiting for the statement")
            response = self._get_raw(statement_url, params)
            if b"FlexQueryResponse" in response[:4096]:
                return response
            root = _parse(response)
            if root is None or root.tag != "FlexStatementResponse":
                raise FlexError(MALFORMED, None, "GetStatement answered neither a statement nor "
                                "a FlexStatementResponse")
            code = _code(root)
            if code == IN_PROGRESS:
                continue
            if code == TOO_MANY:
                if self._stop_event.wait(TOO_MANY_WAIT_S):
                    raise FlexError(TOO_MANY_REQUESTS, TOO_MANY)
                continue
            if code == REFERENCE_INVALID:
                return None
            raise self._error_of(root)
        raise FlexError(NOT_READY, IN_PROGRESS,
                        f"still generating after {len(self._poll_waits_s)} polls")

    def _error_of(self, root: ElementTree.Element) -> FlexError:
        code = _code(root)
        if code is None:
            return FlexError(MALFORMED, None, "a failure without an error code")
        return FlexError(problem_for_code(code), code, f"IBKR code {code}")

    def _get(self, url: str, params: dict[str, str]) -> ElementTree.Element | None:
        return _parse(self._get_raw(url, params))

    def _get_raw(self, url: str, params: dict[str, str]) -> bytes:
        self._pacer.acquire()
        self.requests += 1
        try:
            response = self._session.get(url, params=params, timeout=self._timeout_s,
                                         proxies=self._proxies, allow_redirects=False)
        except requests.RequestException as error:
            # The exception's text holds the URL, and so the token: only its class is told.
            raise FlexError(UNREACHABLE, None, error.__class__.__name__) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise FlexError(problem_for_code(1009), None, f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise FlexError(MALFORMED, None, f"HTTP {response.status_code}")
        return response.content


def parse_xml(body: bytes) -> ElementTree.Element | None:
    """The XML's root, or None if it is not XML or declares a DTD (entities could explode)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None  # IBKR's answers have none; refusing them keeps expat's expansions out
    try:
        return ElementTree.fromstring(body)  # noqa: S314 (no DTD, see above)
    except ElementTree.ParseError:
        return None


_parse = parse_xml


def _code(root: ElementTree.Element) -> int | None:
    text = (root.findtext("ErrorCode") or "").strip()
    return int(text) if text.isdigit() else None
