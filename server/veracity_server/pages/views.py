"""Routes of the HTML pages: login, Profile → IBKR Integration and its two live fragments."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup

from veracity_server.audit.views import CURSOR_MAX_LENGTH, users_connector
from veracity_server.auth.guards import csrf_token, current_user_id, end_session
from veracity_server.db import get_session
from veracity_server.errors import InvalidRequest, NotAuthenticated
from veracity_server.models import User
from veracity_server.pages.activity import activity_for, events_view, health_by_connector
from veracity_server.pages.connectors_view import connectors_page
from veracity_server.pages.data import connectors_for, portfolio_for, portfolio_version
from veracity_server.pages.portfolio_view import portfolio_page
from veracity_server.pages.security import add_security_headers, safe_next_path
from veracity_server.profile.portfolio import CHART_RANGES, ChartRange, chart_range
from veracity_server.settings import SETTINGS_KEY, Settings, parse_variable

POLL_INTERVAL_VARIABLE = "VERACITY_PAGE_POLL_INTERVAL_S"
POLL_INTERVAL_KEY = "PAGE_POLL_INTERVAL_S"
TOKENS_PER_USER_KEY = "PAIRING_TOKENS_PER_USER"

blueprint = Blueprint("pages", __name__, template_folder="../templates",
                      static_folder="../static", static_url_path="/assets")


def parse_poll_interval(raw: Any) -> float:
    """Seconds between refreshes of the live regions (0.5 to 3600); ValueError otherwise."""
    return float(parse_variable(POLL_INTERVAL_VARIABLE, raw))


@blueprint.record_once
def read_settings(state: BlueprintSetupState) -> None:
    """Copy the (already validated) poll interval where the templates read it."""
    settings: Settings = state.app.extensions[SETTINGS_KEY]
    state.app.config[POLL_INTERVAL_KEY] = settings.page_poll_interval_s
    state.app.config[TOKENS_PER_USER_KEY] = settings.pairing_tokens_per_user


@blueprint.after_request
def security_headers(response: Response) -> Response:
    """CSP and friends on every page, fragment and asset of this blueprint."""
    return add_security_headers(response)


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


@blueprint.post("/login")
def login_without_script() -> Any:
    """The form posted without its script: sign-in is made by the script (JSON + CSRF-safe
    session API), so say what is needed instead of failing obscurely. The password is dropped."""
    next_path = safe_next_path(request.args.get("next"))
    return render_template("login.html", next_path=next_path, needs_script=True), 400


@blueprint.get("/profile/ibkr")
def ibkr_page() -> Any:
    """Profile → IBKR Integration: download, pairing, connectors, portfolio, troubleshooting."""
    user = logged_in_user()
    if user is None:
        return redirect(url_for("pages.login_page", next=request.full_path.rstrip("?")))
    # Rendered once here so the page knows each region's fingerprint; the HTML comes from our own
    # autoescaping templates, which is why wrapping it in Markup below is safe.
    # The version is taken before the data is read: a snapshot landing in between then shows
    # up at the next poll instead of hiding behind a version that already counts it.
    chart = page_chart_range()
    version = portfolio_version(user.id, chart.name)
    status_html = render_status_region(user.id)
    portfolio_html = render_portfolio_region(user.id, chart)
    activity = activity_for(connectors_page(connectors_for(user.id))["connectors"])
    return render_template(
        "profile_ibkr.html",
        user_email=user.email,
        csrf_token=csrf_token(),
        poll_interval_ms=int(current_app.config[POLL_INTERVAL_KEY] * 1000),
        status_html=Markup(status_html),  # noqa: S704 (our own escaped template output)
        status_version=fragment_version(status_html),
        portfolio_html=Markup(portfolio_html),  # noqa: S704 (our own escaped template output)
        portfolio_version=version,
        chart_range=chart.name,
        activity=activity,
    )


def page_chart_range() -> ChartRange:
    """The chart range the page was asked for (`?range=1W`); the default for anything else."""
    name = request.args.get("range")
    return chart_range(name if name in CHART_RANGES else None)


def render_status_region(user_id: int) -> str:
    """The connectors list and troubleshooting panel as HTML."""
    return render_template("_status_region.html", status=connectors_page(connectors_for(user_id)),
                           health=health_by_connector(user_id))


def render_portfolio_region(user_id: int, chart: ChartRange) -> str:
    """The portfolio region (totals, charts, positions, stop orders) as HTML."""
    return render_template("_portfolio_region.html",
                           portfolio=portfolio_page(portfolio_for(user_id, chart)),
                           chart_ranges=list(CHART_RANGES), chart_range=chart.name)


def fragment_version(html: str) -> str:
    """A short fingerprint of a rendered region; the page's polling swaps only on change."""
    return hashlib.sha256(html.encode()).hexdigest()[:32]


def fragment_response(html: str, version: str | None = None) -> Response:
    """A region for the page's polling: ETag = its version, 304 when the page has it."""
    response = make_response(html)
    response.set_etag(version or fragment_version(html))
    response.make_conditional(request)  # turns it into a 304 in place when the ETag matches
    return response


@blueprint.get("/profile/ibkr/fragments/connectors")
def connectors_fragment() -> Any:
    """The connectors list and troubleshooting panel, re-rendered for the page's polling."""
    return fragment_response(render_status_region(current_user_id()))


@blueprint.get("/profile/ibkr/fragments/events/<connector_id>")
def events_fragment(connector_id: str) -> Any:
    """The next page of a connector's audit log ("More"), as list items (pages/activity.py)."""
    connector = users_connector(get_session(), current_user_id(), connector_id)
    cursor = request.args.get("cursor")
    if cursor is not None and len(cursor) > CURSOR_MAX_LENGTH:
        raise InvalidRequest(f"cursor: at most {CURSOR_MAX_LENGTH} characters")
    return fragment_response(render_template("_event_items.html", page=events_view(
        connector.id, cursor, datetime.now(UTC))))


@blueprint.get("/profile/ibkr/fragments/portfolio")
def portfolio_fragment() -> Any:
    """The portfolio region (totals, chart, positions, stop orders), re-rendered for polling.

    Building a large portfolio costs far more than the page's polling should, so the cheap
    version check comes first and an unchanged portfolio is answered 304 without building it.
    """
    user_id = current_user_id()
    chart = page_chart_range()
    version = portfolio_version(user_id, chart.name)
    if version in request.if_none_match:
        response = make_response("", 304)
        response.set_etag(version)
        return response
    return fragment_response(render_portfolio_region(user_id, chart), version)
