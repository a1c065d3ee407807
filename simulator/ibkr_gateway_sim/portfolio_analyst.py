"""Portfolio Analyst through the gateway: `POST /pa/performance` and `POST /pa/allperiods`.

Daily NAVs come from `nav_history` (the same closes the Flex statements report), so a past
day's NAV is what `/portfolio/{acct}/summary` showed when that day ended. Pacing (1 request per
15 minutes each, IBKR's table) runs in the request pipeline like every other limit.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ibkr_gateway_sim.gateway_api import gateway_error, sim_state
from ibkr_gateway_sim.nav_history import NavHistory
from ibkr_gateway_sim.state import SimulatorState

portfolio_analyst = Blueprint("portfolio_analyst", __name__, url_prefix="/v1/api/pa")

PERIODS = ("1D", "7D", "MTD", "1M", "YTD", "1Y")


def _day(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _months_back(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier, clamped to that month's length (31 Mar → 28/29 Feb)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    return day.replace(year=year, month=month + 1,
                       day=min(day.day, calendar.monthrange(year, month + 1)[1]))


def period_start(period: str, today: dt.date, last_closed: dt.date) -> dt.date:
    """The first calendar day a period covers (its last is the last closed business day).

    A period that has no closed day yet (MTD on the 1st, YTD on 2 January) starts at the last
    closed day, so every answer has at least one value.
    """
    starts = {
        "1D": last_closed,
        "7D": today - dt.timedelta(days=7),
        "MTD": today.replace(day=1),
        "1M": _months_back(today, 1),
        "YTD": today.replace(month=1, day=1),
        "1Y": _months_back(today, 12),
    }
    return min(starts[period], last_closed)


def _account_ids(state: SimulatorState) -> tuple[list[str] | None, Response | None]:
    body = request.get_json(silent=True)
    ids = body.get("acctIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return None, gateway_error("Bad Request: acctIds must be a list of account ids", 400)
    for account_id in ids:
        if state.book.account(account_id) is None:
            return None, gateway_error(f"Bad Request: account {account_id} is not accessible",
                                       400)
    return ids, None


DayNav = tuple[dt.date, float]


def _series(history: NavHistory, account_id: str, start: dt.date,
            end: dt.date) -> tuple[list[DayNav], DayNav | None]:
    """(day, NAV) in [start, end] and the one before them (the period's startNAV)."""
    series = history.navs(account_id, start, end)
    before = None
    if series:
        probe = series[0][0] - dt.timedelta(days=1)
        opened = history.opened_on(account_id) or probe
        while probe >= opened and before is None:
            nav = history.nav(account_id, probe)
            before = (probe, nav) if nav is not None else None
            probe -= dt.timedelta(days=1)
    return series, before


def _returns(navs: list[float], start_nav: float) -> list[float]:
    return [round(nav / start_nav - 1, 6) if start_nav else 0.0 for nav in navs]


def _monthly_returns(series: list[DayNav], start_nav: float) -> tuple[list[str], list[float]]:
    """Time-period returns per calendar month (`tpps`), from month-end NAVs."""
    months: list[str] = []
    ends: list[float] = []
    for day, nav in series:
        month = day.strftime("%Y%m")
        if months and months[-1] == month:
            ends[-1] = nav
        else:
            months.append(month)
            ends.append(nav)
    returns, previous = [], start_nav
    for end in ends:
        returns.append(round(end / previous - 1, 6) if previous else 0.0)
        previous = end
    return months, returns


def performance_body(state: SimulatorState, account_ids: list[str], period: str) -> dict[str, Any]:
    """The body of `/pa/performance` for these accounts and period."""
    history = state.history
    today, last_closed = state.today(), history.last_closed_day()
    start = period_start(period, today, last_closed)
    nav_data, cps_data, tpps_data = [], [], []
    dates: list[str] = []
    months: list[str] = []
    for account_id in account_ids:
        series, before = _series(history, account_id, start, last_closed)
        if not dates:
            dates = [_day(day) for day, _ in series]
        navs = [nav for _, nav in series]
        start_nav = before[1] if before is not None else (navs[0] if navs else 0.0)
        base = state.book.account(account_id).base_currency  # type: ignore[union-attr]
        common = {"idType": "acctid", "id": account_id, "baseCurrency": base,
                  "start": _day(series[0][0]) if series else None,
                  "end": _day(series[-1][0]) if series else None}
        nav_data.append({**common, "startNAV": {
            "date": _day(before[0]) if before is not None else None, "val": start_nav},
            "navs": navs})
        cps_data.append({**common, "returns": _returns(navs, start_nav)})
        months, monthly = _monthly_returns(series, start_nav)
        tpps_data.append({**common, "returns": monthly})
    return {
        "currencyType": "base",
        "rc": 0,
        "nav": {"freq": "D", "dates": dates, "data": nav_data},
        "nd": len(dates),
        "cps": {"freq": "D", "dates": dates, "data": cps_data},
        "tpps": {"freq": "M", "dates": months, "data": tpps_data},
        "id": "getPerformanceData",
        "included": account_ids,
        "pm": "TWR",
    }


@portfolio_analyst.post("/performance")
def performance() -> Any:
    """Daily NAV, cumulative and monthly returns per account for one period (default 1Y)."""
    state = sim_state()
    body = request.get_json(silent=True)
    period = body.get("period", body.get("freq", "1Y")) if isinstance(body, dict) else "1Y"
    with state.lock:
        ids, refused = _account_ids(state)
        if refused is not None:
            return refused
        if period not in PERIODS:
            return gateway_error(f"Bad Request: period must be one of {', '.join(PERIODS)}", 400)
        assert ids is not None
        return jsonify(performance_body(state, ids, period))


@portfolio_analyst.post("/allperiods")
def all_periods() -> Any:
    """Every period at once, per account (NAVs, cumulative returns, dates, startNAV)."""
    state = sim_state()
    with state.lock:
        ids, refused = _account_ids(state)
        if refused is not None:
            return refused
        assert ids is not None
        answer: dict[str, Any] = {"currencyType": "base", "rc": 0, "view": ids,
                                  "id": "getPerformanceAllPeriods", "included": ids,
                                  "pm": "TWR"}
        last_closed = state.history.last_closed_day()
        for account_id in ids:
            entry: dict[str, Any] = {"lastSuccessfulUpdate": state.local_now().strftime(
                "%Y-%m-%d %H:%M:%S"), "baseCurrency": state.book.account(  # type: ignore[union-attr]
                account_id).base_currency, "periods": list(PERIODS)}
            for period in PERIODS:
                start = period_start(period, state.today(), last_closed)
                series, before = _series(state.history, account_id, start, last_closed)
                navs = [nav for _, nav in series]
                start_nav = before[1] if before is not None else (navs[0] if navs else 0.0)
                entry[period] = {
                    "nav": navs, "cps": _returns(navs, start_nav), "freq": "D",
                    "dates": [_day(day) for day, _ in series],
                    "startNAV": {"date": _day(before[0]) if before else None, "val": start_nav},
                    "start": _day(series[0][0]) if series else None,
                    "end": _day(series[-1][0]) if series else None}
            entry["start"], entry["end"] = entry["1Y"]["start"], entry["1Y"]["end"]
            answer[account_id] = entry
        answer["nd"] = len(answer[ids[0]]["1Y"]["dates"])
        return jsonify(answer)
