"""The Client Portal Gateway endpoints under `/v1/api` (session checks and pacing run before)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ibkr_gateway_sim import gateway_shapes, session_events
from ibkr_gateway_sim.session import USER_ID, USER_NAME
from ibkr_gateway_sim.state import SimulatorState

gateway = Blueprint("gateway", __name__, url_prefix="/v1/api")


def sim_state() -> SimulatorState:
    """The state of the simulator serving this request."""
    return current_app.config["SIMULATOR_STATE"]


def gateway_error(message: str, status: int) -> Response:
    """An error in the gateway's own shape: `{"error": ..., "statusCode": ...}`."""
    response = jsonify({"error": message, "statusCode": status})
    response.status_code = status
    return response


def _unknown_account(account_id: str) -> Response:
    return gateway_error(f"Bad Request: account {account_id} is not accessible", 400)


# --- session -------------------------------------------------------------------------------

@gateway.route("/iserver/auth/status", methods=["GET", "POST"])
def auth_status() -> Any:
    """Brokerage session status (answers even without a session: all false)."""
    state = sim_state()
    with state.lock:
        return jsonify(state.session.auth_status())


@gateway.route("/tickle", methods=["GET", "POST"])
def tickle() -> Any:
    """Keep the session alive; reports the session and the brokerage status."""
    state = sim_state()
    with state.lock:
        session = state.session
        return jsonify({
            "session": session.session_token,
            "ssoExpires": session.expires_in_ms(state.now()),
            "collission": False,  # sic: the gateway's own spelling
            "userId": USER_ID,
            "hmds": {"error": "no bridge"},
            "iserver": {"authStatus": session.auth_status()},
        })


@gateway.route("/sso/validate", methods=["GET"])
def sso_validate() -> Any:
    """The SSO session's details."""
    state = sim_state()
    with state.lock:
        session = state.session
        login_ms = state.wall_ms() - int((state.now() - session.login_time) * 1000)
        return jsonify({
            "USER_ID": USER_ID,
            "USER_NAME": USER_NAME,
            "RESULT": True,
            "AUTH_TIME": login_ms,
            "SF_ENABLED": False,
            "IS_FREE_TRIAL": False,
            "CREDENTIAL": USER_NAME,
            "IP": "127.0.0.1",
            "EXPIRES": session.expires_in_ms(state.now()),
            "QUALIFIED_FOR_MOBILE_AUTH": None,
            "LANDING_APP": "UNIVERSAL",
            "IS_MASTER": False,
            "lastAccessed": state.wall_ms(),
            "LOGIN_TYPE": 1,
            "PAPER_USER_NAME": USER_NAME,
            "features": {"env": "PROD", "wlms": True, "realtime": True, "bond": True,
                         "optionChains": True, "calendar": True, "newMf": True},
            "region": "NJ",
        })


@gateway.route("/iserver/auth/ssodh/init", methods=["POST"])
def ssodh_init() -> Any:
    """Open the brokerage session when the gateway is connected (compete=true takes it over)."""
    body = request.get_json(silent=True) or {}
    compete = bool(body.get("compete", True)) if isinstance(body, dict) else True
    state = sim_state()
    with state.lock:
        return jsonify(session_events.ssodh_init_answer(state, compete))


@gateway.route("/iserver/reauthenticate", methods=["GET", "POST"])
def reauthenticate() -> Any:
    """Deprecated by IBKR in favour of ssodh/init; still answers, as the gateway does."""
    state = sim_state()
    with state.lock:
        state.session.open_brokerage_session(compete=False)
        return jsonify({"message": "triggered"})


@gateway.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """End the session; the browser login is needed again."""
    state = sim_state()
    with state.lock:
        state.session.logout(reason="logged out by /logout")
        return jsonify({"status": True})


# --- accounts and portfolio -------------------------------------------------------------------

@gateway.route("/portfolio/accounts", methods=["GET"])
@gateway.route("/portfolio/subaccounts", methods=["GET"])
def portfolio_accounts() -> Any:
    """The accounts (must be called before other /portfolio endpoints)."""
    state = sim_state()
    with state.lock:
        state.session.portfolio_accounts_seen = True
        return jsonify([gateway_shapes.portfolio_account(account)
                        for account in state.book.accounts])


@gateway.route("/iserver/accounts", methods=["GET"])
def iserver_accounts() -> Any:
    """Brokerage accounts (must be called before /iserver/account/orders)."""
    state = sim_state()
    with state.lock:
        state.session.iserver_accounts_seen = True
        return jsonify(gateway_shapes.iserver_accounts(state.book, state.selected_account))


@gateway.route("/iserver/account", methods=["POST"])
def switch_account() -> Any:
    """Select the account that /iserver calls without an accountId refer to."""
    body = request.get_json(silent=True)
    account_id = body.get("acctId") if isinstance(body, dict) else None
    state = sim_state()
    with state.lock:
        if not isinstance(account_id, str) or state.book.account(account_id) is None:
            return gateway_error("Bad Request: acctId is missing or not accessible", 400)
        state.selected_account = account_id
        return jsonify({"set": True, "acctId": account_id})


@gateway.route("/portfolio/<accountId>/meta", methods=["GET"])
def account_meta(accountId: str) -> Any:
    """One account's description."""
    state = sim_state()
    with state.lock:
        account = state.book.account(accountId)
        if account is None:
            return _unknown_account(accountId)
        return jsonify(gateway_shapes.portfolio_account(account))


@gateway.route("/portfolio/<accountId>/summary", methods=["GET"])
def account_summary(accountId: str) -> Any:
    """Net liquidation, cash, buying power... in the account's base currency."""
    state = sim_state()
    with state.lock:
        account = state.book.account(accountId)
        if account is None:
            return _unknown_account(accountId)
        return jsonify(gateway_shapes.summary(state.book, account, state.wall_ms()))


@gateway.route("/portfolio/<accountId>/ledger", methods=["GET"])
def account_ledger(accountId: str) -> Any:
    """Cash and values per currency, plus BASE."""
    state = sim_state()
    with state.lock:
        account = state.book.account(accountId)
        if account is None:
            return _unknown_account(accountId)
        return jsonify(gateway_shapes.ledger(state.book, account, state.wall_ms() // 1000))


@gateway.route("/portfolio/<accountId>/positions/<int:pageId>", methods=["GET"])
def positions_page(accountId: str, pageId: int) -> Any:
    """Up to 100 cached positions per page, pages from 0; past the end an empty list."""
    state = sim_state()
    with state.lock:
        if state.book.account(accountId) is None:
            return _unknown_account(accountId)
        if not state.session.portfolio_accounts_seen:
            # IBKR requires /portfolio/accounts first; without it the answer is a false empty.
            return jsonify([])
        rows = state.cached_positions(accountId)
        start = pageId * gateway_shapes.POSITIONS_PAGE_SIZE
        return jsonify(rows[start:start + gateway_shapes.POSITIONS_PAGE_SIZE])


@gateway.route("/portfolio/<accountId>/positions/invalidate", methods=["POST"])
def invalidate_positions(accountId: str) -> Any:
    """Drop the paged endpoint's cache for this account."""
    state = sim_state()
    with state.lock:
        if state.book.account(accountId) is None:
            return _unknown_account(accountId)
        state.positions_cache.pop(accountId, None)
        return jsonify({"message": "success"})


@gateway.route("/portfolio2/<accountId>/positions", methods=["GET"])
def positions_unpaged(accountId: str) -> Any:
    """Every position, uncached and unpaged (the newer endpoint)."""
    state = sim_state()
    with state.lock:
        account = state.book.account(accountId)
        if account is None:
            return _unknown_account(accountId)
        if not state.session.portfolio_accounts_seen:
            return jsonify([])
        return jsonify(gateway_shapes.positions_rows(state.book, account))


# --- orders ---------------------------------------------------------------------------------

@gateway.route("/iserver/account/orders", methods=["GET"])
def live_orders() -> Any:
    """Orders with the gateway's quirks: pre-flight empty answer, force, accountId, filters."""
    state = sim_state()
    account_id = request.args.get("accountId") or None
    force = request.args.get("force", "").lower() == "true"
    wanted = {gateway_shapes.ORDER_STATUS_FILTERS[name.strip().lower()]
              for name in request.args.get("filters", "").split(",")
              if name.strip().lower() in gateway_shapes.ORDER_STATUS_FILTERS}
    with state.lock:
        session = state.session
        target = account_id or state.selected_account
        account = state.book.account(target)
        if account_id is not None and account is None:
            return _unknown_account(account_id)
        if force:
            # force=true clears the gateway's order cache and answers empty; the next call fills.
            session.orders_primed = True
            return jsonify({"orders": [], "snapshot": False})
        if not session.iserver_accounts_seen or account is None:
            return jsonify({"orders": [], "snapshot": False})
        if state.options.preflight_empty_orders and not session.orders_primed:
            session.orders_primed = True
            return jsonify({"orders": [], "snapshot": False})
        orders = [order for order in account.orders if not wanted or order.status in wanted]
        rows = [gateway_shapes.order_row(state.book, order) for order in orders[:1000]]
        return jsonify({"orders": rows, "snapshot": True})


@gateway.route("/iserver/account/trades", methods=["GET"])
def trades() -> Any:
    """Executions of filled orders in the selected (or given) account."""
    state = sim_state()
    with state.lock:
        account = state.book.account(request.args.get("accountId") or state.selected_account)
        if account is None:
            return jsonify([])
        executions = []
        for order in account.orders:
            if order.status != "Filled":
                continue
            contract = state.book.contract(order.conid)
            executions.append({
                "execution_id": f"0000e0d5.{order.order_id:x}.01.01",
                "symbol": contract.ticker, "side": order.side[0],
                "order_description": f"{order.side.title()} {order.quantity:g}",
                "trade_time_r": order.last_execution_ms, "size": order.filled_quantity,
                "price": f"{contract.price:.2f}", "exchange": contract.listing_exchange,
                "net_amount": round(order.filled_quantity * contract.price, 2),
                "account": account.account_id, "accountCode": account.account_id,
                "sec_type": contract.asset_class, "conid": str(contract.conid),
                "order_ref": order.order_ref,
            })
        return jsonify(executions)
