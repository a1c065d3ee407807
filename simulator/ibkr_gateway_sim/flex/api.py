"""The Flex Web Service's HTTP face, at IBKR's own paths, so a client changes only its host.

- `/AccountManagement/FlexWebService/SendRequest` and `.../GetStatement` (current), and the
  legacy `/Universal/servlet/FlexStatementService.SendRequest` and `...GetStatement`.
- Every service-level answer is HTTP 200 with XML; the status lives in the XML.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, request

from ibkr_gateway_sim.flex import statement
from ibkr_gateway_sim.flex.faults import ERROR_PAGE
from ibkr_gateway_sim.flex.service import ERROR_MESSAGES, FlexOutcome
from ibkr_gateway_sim.gateway_api import sim_state
from ibkr_gateway_sim.state import SimulatorState

flex_service = Blueprint("flex_service", __name__)

CURRENT_PREFIX = "/AccountManagement/FlexWebService"
LEGACY_PREFIX = "/Universal/servlet/FlexStatementService"
FLEX_PREFIXES = (CURRENT_PREFIX + "/", LEGACY_PREFIX + ".")


def _timestamp(state: SimulatorState) -> str:
    """`06 December, 2026 09:15 AM EST`: the form ibflex parses (EST/EDT only)."""
    now = state.local_now()
    zone = "EDT" if now.dst() else "EST"
    return now.strftime("%d %B, %Y %I:%M %p ") + zone


def _xml(body: str) -> Response:
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + body, status=200,
                    mimetype="text/xml")


def _fail(state: SimulatorState, code: int, status: str = "Fail") -> Response:
    return _xml(f'<FlexStatementResponse timestamp="{_timestamp(state)}">\n'
                f"<Status>{status}</Status>\n<ErrorCode>{code}</ErrorCode>\n"
                f"<ErrorMessage>{escape(ERROR_MESSAGES[code])}</ErrorMessage>\n"
                "</FlexStatementResponse>\n")


def _v2_code(state: SimulatorState, code: int) -> Response:
    # Version 2 (no `v`): ib_insync/ib_async look for a first child <code> with the message.
    return _xml(f'<FlexStatementResponse timestamp="{_timestamp(state)}">\n'
                f"<code>{escape(ERROR_MESSAGES[code])}</code>\n</FlexStatementResponse>\n")


def _arguments() -> dict[str, str]:
    return {name: value for name, value in request.values.items()}


def _remote_ip() -> str:
    return request.remote_addr or ""


def _through_faults(step: str, answer: Callable[[SimulatorState], Response]) -> Response:
    """The answer, unless a transport fault (`/sim/flex/faults`) stands in the way."""
    state = sim_state()
    with state.lock:
        fault = state.flex.transport.take(step)
    if fault is None:
        return answer(state)
    if fault.kind == "status":
        return Response(ERROR_PAGE, status=fault.status, mimetype="text/html")
    if fault.kind == "html":  # a proxy's or maintenance page, with status 200
        return Response(ERROR_PAGE, status=200, mimetype="text/html")
    if fault.kind == "latency":
        fault.released.wait(fault.delay_s)  # outside the lock: the rest goes on meanwhile
        return answer(state)
    whole = answer(state)  # truncated: the connection ended halfway through the body
    body = whole.get_data()
    return Response(body[:max(len(body) // 2, 1)], status=200, mimetype=whole.mimetype)


@flex_service.route(f"{CURRENT_PREFIX}/SendRequest", methods=["GET", "POST"])
@flex_service.route(f"{LEGACY_PREFIX}.SendRequest", methods=["GET", "POST"])
def send_request() -> Any:
    """Step 1: a reference code and the `Url` to fetch it from."""
    return _through_faults("SendRequest", _send_request)


def _send_request(state: SimulatorState) -> Response:
    with state.lock:
        state.observe_history()
        state.flex.ensure_demo(state.now())
        account_ids = [account.account_id for account in state.book.accounts]
        opened = {account_id: day for account_id in account_ids
                  if (day := state.history.opened_on(account_id)) is not None}
        outcome = state.flex.send_request(_arguments(), _remote_ip(), state.now(),
                                          state.today(), account_ids, opened)
        if outcome.error is not None:
            return _fail(state, outcome.error)
        assert outcome.pending is not None
        prefix = CURRENT_PREFIX + "/GetStatement" if request.path.startswith(CURRENT_PREFIX) \
            else LEGACY_PREFIX + ".GetStatement"
        url = request.host_url.rstrip("/") + prefix
        return _xml(f'<FlexStatementResponse timestamp="{_timestamp(state)}">\n'
                    "<Status>Success</Status>\n"
                    f"<ReferenceCode>{outcome.pending.reference}</ReferenceCode>\n"
                    f"<Url>{escape(url)}</Url>\n</FlexStatementResponse>\n")


@flex_service.route(f"{CURRENT_PREFIX}/GetStatement", methods=["GET", "POST"])
@flex_service.route(f"{LEGACY_PREFIX}.GetStatement", methods=["GET", "POST"])
def get_statement() -> Any:
    """Step 2: 1019 while the statement is generated, then the statement."""
    return _through_faults("GetStatement", _get_statement)


def _get_statement(state: SimulatorState) -> Response:
    arguments = _arguments()
    version_2 = "v" not in arguments
    with state.lock:
        state.observe_history()
        state.flex.ensure_demo(state.now())
        outcome: FlexOutcome = state.flex.get_statement(arguments, _remote_ip(), state.now())
        if outcome.error is not None:
            if version_2:
                return _v2_code(state, outcome.error)
            status = state.flex.settings.in_progress_status if outcome.error == 1019 else "Fail"
            return _fail(state, outcome.error, status)
        pending = outcome.pending
        assert pending is not None
        all_ids = [account.account_id for account in state.book.accounts]
        account_ids = list(pending.query.accounts) if pending.query.accounts is not None \
            else all_ids
        if pending.generated_at is None:
            pending.generated_at = state.local_now()
        wanted = statement.StatementRequest(pending=pending, account_ids=account_ids,
                                            generated_at=pending.generated_at)
        if pending.query.output == "CSV":
            return Response(statement.build_csv(wanted, state.history), status=200,
                            mimetype="text/plain")
        gathered = statement.gather(wanted, state.history, state.book)
    # A year of daily positions is tens of megabytes: rendered without holding the lock, so
    # the gateway keeps answering meanwhile.
    return Response(statement.build_xml(wanted, gathered), status=200, mimetype="text/xml")
