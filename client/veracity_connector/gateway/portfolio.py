"""Portfolio endpoints: accounts, summary (net liquidation, cash), every position page.

IBKR requires `GET /portfolio/accounts` before any other `/portfolio` call in a session; the
`PortfolioReader` calls it first in every snapshot (it is paced at 1 per 5 s anyway).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from veracity_connector.gateway.errors import GatewayProtocolError, GatewayServerError
from veracity_connector.gateway.transport import GatewayTransport
from veracity_connector.numbers import CURRENCY_MAX, bounded_text, lenient_decimal

logger = logging.getLogger(__name__)

# Pages are "up to 100" (older docs: 30). Rows may say their page size ("pageSize"); otherwise
# the first page's length is the size. A page shorter than the size, or than the smallest
# documented size, or empty, is the last. The cap only guards against a gateway that repeats.
MAX_POSITION_PAGES = 200
SMALLEST_DOCUMENTED_PAGE_SIZE = 30


@dataclass(frozen=True)
class GatewayAccount:
    """One account as `/portfolio/accounts` lists it."""

    account_id: str
    base_currency: str | None


@dataclass(frozen=True)
class AccountSummary:
    """The summary figures a snapshot needs."""

    net_liquidation: Decimal | None
    cash: Decimal | None
    currency: str | None


class PortfolioReader:
    """Reads accounts, summaries and positions in the order IBKR requires."""

    def __init__(self, transport: GatewayTransport) -> None:
        self._transport = transport

    def accounts(self) -> list[GatewayAccount]:
        """Every account the gateway session can see (must come first in a session)."""
        body = self._transport.request("GET", "/portfolio/accounts")
        if not isinstance(body, list):
            raise GatewayProtocolError("/portfolio/accounts did not return a list")
        accounts = []
        for item in body:
            if not isinstance(item, dict):
                continue
            account_id = item.get("accountId") or item.get("id")
            if account_id:
                accounts.append(GatewayAccount(str(account_id),
                                               bounded_text(item.get("currency"), CURRENCY_MAX)))
        return accounts

    def summary(self, account_id: str) -> AccountSummary:
        """Net liquidation and cash from the summary (cash from the ledger if absent)."""
        body = self._transport.request("GET", f"/portfolio/{account_id}/summary")
        if not isinstance(body, dict):
            raise GatewayProtocolError(f"summary of {account_id} is not an object")
        net_liquidation, currency = _summary_amount(body, "netliquidation")
        cash, cash_currency = _summary_amount(body, "totalcashvalue")
        if cash is None:
            cash = self._ledger_cash(account_id)
        return AccountSummary(net_liquidation, cash, currency or cash_currency)

    def _ledger_cash(self, account_id: str) -> Decimal | None:
        body = self._transport.request("GET", f"/portfolio/{account_id}/ledger")
        base = body.get("BASE") if isinstance(body, dict) else None
        return lenient_decimal(base.get("cashbalance"), "ledger cashbalance") if isinstance(
            base, dict) else None

    def positions(self, account_id: str) -> list[dict[str, Any]]:
        """Every position of the account, page after page until a short or empty page."""
        # The paged endpoint serves a cached list (users report minutes-old prices): clear it
        # first so a snapshot shows the prices of the moment it was taken.
        try:
            self._transport.request("POST", f"/portfolio/{account_id}/positions/invalidate")
        except (GatewayProtocolError, GatewayServerError) as error:
            # Only freshness is lost: cached positions beat no snapshot. A lost session or an
            # unreachable gateway still propagates (the pages would fail the same way).
            logger.warning("could not clear the gateway's positions cache (%s); reading the "
                           "cached positions", type(error).__name__)
        positions: list[dict[str, Any]] = []
        page_size: int | None = None
        for page in range(MAX_POSITION_PAGES):
            body = self._transport.request("GET", f"/portfolio/{account_id}/positions/{page}")
            if body is None:
                body = []
            if not isinstance(body, list):
                raise GatewayProtocolError(f"positions page {page} of {account_id} is not a list")
            rows = [item for item in body if isinstance(item, dict)]
            positions.extend(rows)
            if page_size is None:
                page_size = _declared_page_size(rows) or max(len(rows),
                                                             SMALLEST_DOCUMENTED_PAGE_SIZE)
            if len(rows) < page_size:
                return positions
        logger.warning("stopped reading positions of an account after %d pages",
                       MAX_POSITION_PAGES)
        return positions


def _declared_page_size(rows: list[dict[str, Any]]) -> int | None:
    declared = rows[0].get("pageSize") if rows else None
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared
    return None


def _summary_amount(summary: dict[str, Any], key: str) -> tuple[Decimal | None, str | None]:
    entry = summary.get(key)
    if not isinstance(entry, dict) or entry.get("isNull"):
        return None, None
    amount = entry.get("amount")
    if amount is None:
        amount = entry.get("value")
    return (lenient_decimal(amount, f"summary {key}"),
            bounded_text(entry.get("currency"), CURRENCY_MAX))
