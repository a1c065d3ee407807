"""Portfolio Analyst through the simulator: shapes, pacing, session, and NAVs that agree with
what `/portfolio/{acct}/summary` showed on each day (manual clock: no sleeping)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

os.environ.setdefault("IBIND_LOG_TO_FILE", "false")
os.environ.setdefault("IBIND_LOG_TO_CONSOLE", "false")

import ibind  # after the environment it reads at import

from ibkr_gateway_sim.control import SimulatorControlError

ACCOUNTS = ["U1234567", "U2345678", "U3456789"]
DAY_S = 86400.0


def advance_to_weekday_noon(sim, weekday: int) -> dt.date:
    """Move the manual clock to the next `weekday` (0 = Monday), 12:00 New York time."""
    state = sim.server.state
    now = state.local_now()
    target = now.replace(hour=12, minute=0, second=0, microsecond=0)
    target += dt.timedelta(days=(weekday - now.weekday()) % 7 or 7)
    sim.clock.advance((target - now).total_seconds())
    assert state.today().weekday() == weekday
    return state.today()


@pytest.fixture
def sim(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True, idle_timeout_s=10 * DAY_S, penalty_box_s=600)
    sim.control.login()
    return sim


def net_liquidation(sim, account_id: str) -> float:
    answer = sim.get(f"/portfolio/{account_id}/summary")
    assert answer.status_code == 200
    return answer.json()["netliquidation"]["amount"]


def test_past_navs_are_the_values_the_summary_showed_on_those_days(sim):
    monday = advance_to_weekday_noon(sim, 0)
    shown_monday = {account: net_liquidation(sim, account) for account in ACCOUNTS}
    sim.clock.advance(DAY_S)
    sim.control.tick_prices(3)  # Tuesday's prices differ from Monday's
    shown_tuesday = {account: net_liquidation(sim, account) for account in ACCOUNTS}
    assert shown_tuesday != shown_monday
    sim.clock.advance(DAY_S)  # Wednesday: Monday and Tuesday are closed days

    answer = sim.post("/pa/performance", json={"acctIds": ACCOUNTS, "period": "1Y"})
    assert answer.status_code == 200
    body = answer.json()
    dates = body["nav"]["dates"]
    tuesday = monday + dt.timedelta(days=1)
    assert dates[-2:] == [monday.strftime("%Y%m%d"), tuesday.strftime("%Y%m%d")]
    assert [entry["id"] for entry in body["nav"]["data"]] == ACCOUNTS
    for entry in body["nav"]["data"]:
        assert entry["navs"][-2:] == [shown_monday[entry["id"]], shown_tuesday[entry["id"]]]


def test_performance_has_the_gateways_shape(sim):
    advance_to_weekday_noon(sim, 2)
    body = sim.post("/pa/performance", json={"acctIds": ACCOUNTS, "period": "1Y"}).json()
    assert (body["currencyType"], body["rc"], body["nav"]["freq"]) == ("base", 0, "D")
    assert body["id"] == "getPerformanceData" and body["included"] == ACCOUNTS
    dates = body["nav"]["dates"]
    parsed = [dt.datetime.strptime(day, "%Y%m%d").date() for day in dates]
    today = sim.server.state.today()
    assert parsed == sorted(parsed) and all(day.weekday() < 5 for day in parsed)
    assert parsed[-1] == today - dt.timedelta(days=1)  # the last closed day, never today
    assert today - dt.timedelta(days=366) <= parsed[0] <= today - dt.timedelta(days=360)
    assert body["nd"] == len(dates) >= 250
    bases = {"U1234567": "USD", "U2345678": "EUR", "U3456789": "GBP"}
    for entry, returns in zip(body["nav"]["data"], body["cps"]["data"], strict=True):
        assert entry["idType"] == "acctid" and entry["baseCurrency"] == bases[entry["id"]]
        assert len(entry["navs"]) == len(dates) == len(returns["returns"])
        assert (entry["start"], entry["end"]) == (dates[0], dates[-1])
        assert entry["startNAV"]["date"] < dates[0] and entry["startNAV"]["val"] > 0
        assert all(nav > 0 for nav in entry["navs"])
        assert returns["returns"][-1] == pytest.approx(
            entry["navs"][-1] / entry["startNAV"]["val"] - 1, abs=1e-6)
    assert body["tpps"]["freq"] == "M" and len(body["tpps"]["dates"]) in (12, 13)


def test_yesterdays_nav_continues_into_todays_summary(sim):
    """The seeded past ends at the book as first seen: no jump between the series and today
    (prices did not move since, so yesterday's close is today's value)."""
    advance_to_weekday_noon(sim, 3)  # at most a week after start: 1M reaches the seeded past
    body = sim.post("/pa/performance", json={"acctIds": ACCOUNTS, "period": "1M"}).json()
    for entry in body["nav"]["data"]:
        assert entry["navs"][-1] == net_liquidation(sim, entry["id"])
        assert entry["navs"][0] != entry["navs"][-1]  # the past moves


@pytest.mark.parametrize(("period", "most_dates"), [
    ("1D", 1), ("7D", 5), ("MTD", 23), ("1M", 23), ("YTD", 262), ("1Y", 262)])
def test_each_period_covers_its_span(sim, period, most_dates):
    advance_to_weekday_noon(sim, 2)
    body = sim.post("/pa/performance", json={"acctIds": ["U1234567"], "period": period}).json()
    dates = body["nav"]["dates"]
    assert 1 <= len(dates) <= most_dates
    today = sim.server.state.today()
    first = dt.datetime.strptime(dates[0], "%Y%m%d").date()
    if period == "MTD":
        assert first >= today.replace(day=1) or len(dates) == 1
    if period == "YTD":
        assert first >= today.replace(month=1, day=1) or len(dates) == 1


def test_performance_is_paced_one_request_per_15_minutes(sim):
    body = {"acctIds": ["U1234567"], "period": "1Y"}
    assert sim.post("/pa/performance", json=body).status_code == 200
    sim.clock.advance(14 * 60)
    refused = sim.post("/pa/performance", json=body)
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too Many Requests", "statusCode": 429}
    sim.clock.advance(15 * 60 + 1)  # past the penalty box (10 min) and the 15-minute window
    assert sim.post("/pa/performance", json=body).status_code == 200
    counter = sim.control.endpoint("/pa/performance")
    assert (counter["accepted"], counter["refused_429"]) == (2, 1)
    assert counter["limit_min_interval_s"] == 900.0


def test_allperiods_answers_every_period_and_is_not_paced(sim):
    for _ in range(2):
        answer = sim.post("/pa/allperiods", json={"acctIds": ["U2345678"]})
        assert answer.status_code == 200
        sim.clock.advance(1.1)
    body = answer.json()
    entry = body["U2345678"]
    assert entry["periods"] == ["1D", "7D", "MTD", "1M", "YTD", "1Y"]
    assert entry["baseCurrency"] == "EUR"
    for period in entry["periods"]:
        assert len(entry[period]["nav"]) == len(entry[period]["dates"]) >= 1
    assert entry["1Y"]["nav"][-1] == entry["1D"]["nav"][-1]


def test_needs_the_login_but_not_the_brokerage_session(gateway_sim_factory):
    sim = gateway_sim_factory(manual_clock=True)
    body = {"acctIds": ["U1234567"], "period": "7D"}
    assert sim.post("/pa/performance", json=body).status_code == 401
    sim.clock.advance(901)
    sim.control.login(brokerage=False)  # the read-only tier is enough, as IBKR documents
    assert sim.post("/pa/performance", json=body).status_code == 200


@pytest.mark.parametrize("body", [
    {"acctIds": ["U9999999"], "period": "1Y"},
    {"acctIds": [], "period": "1Y"},
    {"period": "1Y"},
    {"acctIds": ["U1234567"], "period": "5Y"},
])
def test_bad_requests_get_400(sim, body):
    answer = sim.post("/pa/performance", json=body)
    assert answer.status_code == 400
    assert answer.json()["statusCode"] == 400


def test_ibind_reads_performance_and_all_periods(sim):
    client = ibind.IbkrClient(url=f"{sim.api_url}/", cacert=str(sim.certificate_path),
                              auto_register_shutdown=False, timeout=10, max_retries=0)
    try:
        performance = client.account_performance(ACCOUNTS, "1Y").data
        assert [entry["id"] for entry in performance["nav"]["data"]] == ACCOUNTS
        assert len(performance["nav"]["data"][0]["navs"]) == len(performance["nav"]["dates"])
        sim.clock.advance(1.1)
        periods = client.all_periods("U3456789").data
        assert periods["U3456789"]["1Y"]["nav"] == performance["nav"]["data"][2]["navs"]
    finally:
        client.close()
    assert sim.control.pacing_violations() == []


def test_history_control_lists_the_closes_pa_answers_without_pacing(sim):
    advance_to_weekday_noon(sim, 2)
    body = sim.post("/pa/performance", json={"acctIds": ["U3456789"], "period": "1M"}).json()
    days = sim.control.history("U3456789", start=body["nav"]["dates"][0])
    assert [day["date"] for day in days] == body["nav"]["dates"]
    assert [day["nav"] for day in days] == body["nav"]["data"][0]["navs"]
    assert all(len(day["positions"]) == 10 for day in days)
    assert sim.control.endpoint("/pa/performance")["accepted"] == 1  # /sim/ is not paced


def test_a_correction_changes_a_past_day_in_pa_and_flex(sim):
    advance_to_weekday_noon(sim, 2)
    monday = (sim.server.state.today() - dt.timedelta(days=2)).strftime("%Y%m%d")
    conid = int(next(iter(sim.control.history("U3456789", start=monday)[0]["positions"])))
    sim.control.correct_history("U3456789", monday, nav=123456.78, quantities={conid: 0})
    (corrected,) = sim.control.history("U3456789", start=monday, end=monday)
    assert corrected["corrected"] and corrected["nav"] == 123456.78
    assert str(conid) not in corrected["positions"] and len(corrected["positions"]) == 9
    body = sim.post("/pa/performance", json={"acctIds": ["U3456789"], "period": "7D"}).json()
    navs = dict(zip(body["nav"]["dates"], body["nav"]["data"][0]["navs"], strict=True))
    assert navs[monday] == 123456.78
    sim.control.clear_history_corrections()
    (restored,) = sim.control.history("U3456789", start=monday, end=monday)
    assert restored["nav"] != 123456.78 and len(restored["positions"]) == 10


def test_a_correction_needs_a_day_with_a_close(sim):
    today = sim.server.state.today().strftime("%Y%m%d")
    with pytest.raises(SimulatorControlError) as refused:
        sim.control.correct_history("U3456789", today, nav=1.0)
    assert refused.value.status == 400
