"""Routes of the HTML pages: login, Profile → IBKR Integration and its two live fragments."""

from __future__ import annotations

import os
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState

from server.auth.guards import csrf_token, current_user_id, end_session
from server.db import get_session
from server.errors import NotAuthenticated
from server.models import User
from server.pages.connectors_view import connectors_page
from server.pages.data import connectors_for, portfolio_for
from server.pages.portfolio_view import portfolio_page
from server.pages.security import add_security_headers, safe_next_path

POLL_INTERVAL_VARIABLE = "VERACITY_PAGE_POLL_INTERVAL_S"
POLL_INTERVAL_KEY = "PAGE_POLL_INTERVAL_S"
DEFAULT_POLL_INTERVAL_S = 10.0

blueprint = Blueprint("pages", __name__, template_folder="../templates",
                      static_folder="../static", static_url_path="/assets")


def parse_poll_interval(raw: Any) -> float:
    """Seconds between refreshes of the live regions (0.5 to 3600); ValueError otherwise."""
    if raw is None or str(raw).strip() == "":
        return DEFAULT_POLL_INTERVAL_S
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = float("nan")
    if not 0.5 <= value <= 3600:
        raise ValueError(f"{POLL_INTERVAL_VARIABLE} must be a number of seconds from 0.5 to 3600, "
                         f"got {raw!r}")
    return value


@blueprint.record_once
def read_settings(state: BlueprintSetupState) -> None:
    """Parse this blueprint's setting once, when the app is built (a bad value fails start-up)."""
    app = state.app
    raw = app.config.get(POLL_INTERVAL_VARIABLE, os.environ.get(POLL_INTERVAL_VARIABLE))
    app.config[POLL_INTERVAL_KEY] = parse_poll_interval(raw)


@blueprint.after_request
def security_headers(response: Response) -> Response:
    """CSP and friends on every page, fragment and asset of this blueprint."""
    return add_security_headers(response, private=request.endpoint != "pages.static")


def logged_in_user() -> User | None:
    """The user of the current session, or None (a session of a deleted user is ended)."""
    try:
        user_id = current_user_id()
    except NotAuthenticated:
        return None
    user = get_session().get(User, user_id)
    if user is None or csrf_token() is None:
        end_session()
        return None
    return user


@blueprint.get("/login")
def login_page() -> Any:
    """The sign-in form; already signed in → straight on to where the person was going."""
    next_path = safe_next_path(request.args.get("next"))
    if logged_in_user() is not None:
        return redirect(next_path)
    return render_template("login.html", next_path=next_path)


@blueprint.get("/profile/ibkr")
def ibkr_page() -> Any:
    """Profile → IBKR Integration: download, pairing, connectors, portfolio, troubleshooting."""
    user = logged_in_user()
    if user is None:
        return redirect(url_for("pages.login_page", next=request.full_path.rstrip("?")))
    return render_template(
        "profile_ibkr.html",
        user_email=user.email,
        csrf_token=session.get("csrf_token"),
        poll_interval_ms=int(current_app.config[POLL_INTERVAL_KEY] * 1000),
        status=connectors_page(connectors_for(user.id)),
        portfolio=portfolio_page(portfolio_for(user.id)),
    )


@blueprint.get("/profile/ibkr/fragments/connectors")
def connectors_fragment() -> Any:
    """The connectors list and troubleshooting panel, re-rendered for the page's polling."""
    user_id = current_user_id()
    return render_template("_status_region.html", status=connectors_page(connectors_for(user_id)))


@blueprint.get("/profile/ibkr/fragments/portfolio")
def portfolio_fragment() -> Any:
    """The portfolio region (totals, chart, positions, stop orders), re-rendered for polling."""
    user_id = current_user_id()
    return render_template("_portfolio_region.html",
                           portfolio=portfolio_page(portfolio_for(user_id)))
