"""The Flex Web Service simulator over HTTPS on loopback: the two steps, 1019, the rate limits,
token expiry and IP binding, every error code, query periods and sections, and statements
that agree with Portfolio Analyst. The manual clock stands in for waiting."""

from __future__ import annotations

import datetime as dt
import time
import warnings
import xml.etree.ElementTree as ET

import pytest
import requests
from ibflex import parser

from ibkr_gateway_sim.flex.service import ERROR_MESSAGES
from ibkr_gateway_sim.pytest_plugin import start_gateway_sim

DEMO_TOKEN = "463927185020316478529401"
YEAR_QUERY, DAILY_QUERY = "987654", "987655"
SERVICE = "/AccountManagement/FlexWebService"
ACCOUNTS = ["U1234567", "U2345678", "U3456789"]


@pytest.fixture(scope="module")
def running_sim():
    sim = start_gateway_sim(manual_clock=True, idle_timeout_s=30 * 86400.0)
    yield sim
    sim.stop()


@pytest.fixture
def sim(running_sim):
    running_sim.control.reset()
    running_sim.control.flex_reset()
    running_sim.clock.advance(120)  # clear of the previous test's rate windows
    return running_sim


def call(sim, step: str, prefix: str = SERVICE, **params: str) -> requests.Response:
    separator = "/" if prefix == SERVICE else "."
    answer = requests.get(f"{sim.base_url}{prefix}{separator}{step}", params=params,
                          verify=sim.verify, timeout=30, headers={"User-Agent": "Java"})
    assert answer.status_code == 200  # Flex answers its errors in the XML, never the status
    return answer


def xml_of(answer: requests.Response) -> ET.Element:
    # Our own simulator's answer on loopback, not untrusted input.
    return ET.fromstring(answer.content)  # noqa: S314


def fields(answer: requests.Response) -> dict[str, str]:
    root = xml_of(answer)
    assert root.tag == "FlexStatementResponse"
    dt.datetime.strptime(root.attrib["timestamp"][:-4], "%d %B, %Y %I:%M %p")
    assert root.attrib["timestamp"][-3:] in ("EST", "EDT")
    return {child.tag: child.text or "" for child in root}


def send(sim, token: str = DEMO_TOKEN, query: str = DAILY_QUERY, **extra: str) -> dict[str, str]:
    return fields(call(sim, "SendRequest", t=token, q=query, v="3", **extra))


def fetch(sim, reference: str, token: str = DEMO_TOKEN) -> requests.Response:
    return call(sim, "GetStatement", t=token, q=reference, v="3")


def reference_of(sim, **kwargs: str) -> str:
    answer = send(sim, **kwargs)
    assert answer["Status"] == "Success", answer
    sim.clock.advance(1.1)
    return answer["ReferenceCode"]


def ready_statement(sim, **kwargs: str) -> bytes:
    reference = reference_of(sim, **kwargs)
    sim.clock.advance(5)
    answer = fetch(sim, reference, token=kwargs.get("token", DEMO_TOKEN))
    assert b"<FlexQueryResponse" in answer.content, answer.text[:300]
    return answer.content


def weekday_range(sim, days: int) -> tuple[str, str]:
    """fd/td for the last `days` calendar days ending yesterday."""
    today = sim.server.state.today()
    return ((today - dt.timedelta(days=days)).strftime("%Y%m%d"),
            (today - dt.timedelta(days=1)).strftime("%Y%m%d"))


def test_two_steps_then_1019_until_the_configured_delay(sim):
    sim.control.flex_configure(generation_delay_s=30)
    answer = send(sim)
    assert answer["Status"] == "Success" and answer["ReferenceCode"].isdigit()
    assert answer["Url"] == f"{sim.base_url}{SERVICE}/GetStatement"
    sim.clock.advance(2)
    waiting = fields(fetch(sim, answer["ReferenceCode"]))
    assert waiting == {"Status": "Fail", "ErrorCode": "1019", "ErrorMessage": ERROR_MESSAGES[1019]}
    sim.clock.advance(10)
    assert fields(fetch(sim, answer["ReferenceCode"]))["ErrorCode"] == "1019"
    sim.clock.advance(20)
    statement = fetch(sim, answer["ReferenceCode"]).content
    assert parser.parse(statement).FlexStatements[0].accountId == "U1234567"


def test_generation_polls_and_warn_status(sim):
    sim.control.flex_configure(generation_delay_s=0, generation_polls=2, in_progress_status="Warn")
    reference = reference_of(sim)
    for _ in range(2):
        assert fields(fetch(sim, reference))["Status"] == "Warn"
        sim.clock.advance(1.1)
    assert b"<FlexQueryResponse" in fetch(sim, reference).content


def test_more_than_one_request_a_second_gets_1018(sim):
    assert send(sim)["Status"] == "Success"
    sim.clock.advance(0.5)
    assert send(sim)["ErrorCode"] == "1018"
    sim.clock.advance(0.6)
    assert send(sim)["Status"] == "Success"  # refused requests do not count
    counters = sim.control.flex_requests()["tokens"][DEMO_TOKEN]
    assert (counters["count"], counters["refused_1018"]) == (3, 1)


def test_more_than_ten_requests_a_minute_get_1018_across_both_steps(sim):
    reference = reference_of(sim)  # 1 (SendRequest)
    for _ in range(9):  # 9 more, GetStatement ones
        fetch(sim, reference)
        sim.clock.advance(1.1)
    refused = fields(fetch(sim, reference))
    assert refused["ErrorCode"] == "1018" and "10 requests per minute" in refused["ErrorMessage"]
    sim.clock.advance(60)
    assert b"<FlexQueryResponse" in fetch(sim, reference).content


def test_rate_limits_are_per_token(sim):
    other = sim.control.flex_create_token()["token"]
    assert send(sim)["Status"] == "Success"
    assert send(sim, token=other)["Status"] == "Success"


def test_a_token_expires(sim):
    token = sim.control.flex_create_token(expires_in_s=100)["token"]
    assert send(sim, token=token)["Status"] == "Success"
    sim.clock.advance(101)
    assert send(sim, token=token) == {"Status": "Fail", "ErrorCode": "1012",
                                      "ErrorMessage": "Token has expired."}


def test_a_token_bound_to_another_ip_gets_1013(sim):
    bound_elsewhere = sim.control.flex_create_token(ip="10.20.30.40")["token"]
    assert send(sim, token=bound_elsewhere)["ErrorCode"] == "1013"
    bound_here = sim.control.flex_create_token(ip="127.0.0.1")["token"]
    assert send(sim, token=bound_here)["Status"] == "Success"


def _trigger(sim, code: int) -> dict[str, str]:
    """Make the service answer `code` the way a client would meet it."""
    if code == 1020:
        return fields(call(sim, "SendRequest", t=DEMO_TOKEN, v="3"))  # no q
    if code == 1015:
        return send(sim, token="000000000000000000000000")
    if code == 1012:
        sim.control.flex_change_token(DEMO_TOKEN, expires_in_s=0)
        return send(sim)
    if code == 1013:
        sim.control.flex_change_token(DEMO_TOKEN, ip="192.0.2.1")
        return send(sim)
    if code == 1011:
        sim.control.flex_change_token(DEMO_TOKEN, active=False)
        return send(sim)
    if code == 1014:
        return send(sim, query="123")
    if code == 1010:
        return send(sim, query=sim.control.flex_create_query(legacy=True)["query_id"])
    if code == 1016:
        return send(sim, query=sim.control.flex_create_query(accounts=["U7654321"])["query_id"])
    if code == 1003:
        today = sim.server.state.today().strftime("%Y%m%d")
        return send(sim, fd=today, td=today)
    if code == 1017:
        return fields(fetch(sim, "1234567890"))
    if code == 1019:
        return fields(fetch(sim, reference_of(sim)))
    if code == 1018:
        send(sim)
        return send(sim)
    sim.control.flex_inject_error(code, step="GetStatement")
    return fields(fetch(sim, reference_of(sim)))


@pytest.mark.parametrize("code", sorted(ERROR_MESSAGES))
def test_every_documented_error_code(sim, code):
    answer = _trigger(sim, code)
    assert answer == {"Status": "Fail", "ErrorCode": str(code),
                      "ErrorMessage": ERROR_MESSAGES[code]}


def test_injected_errors_last_their_count_and_step(sim):
    sim.control.flex_inject_error(1009, step="GetStatement", count=2)
    reference = reference_of(sim)
    sim.clock.advance(5)
    for _ in range(2):
        assert fields(fetch(sim, reference))["ErrorCode"] == "1009"
        sim.clock.advance(1.1)
    assert b"<FlexQueryResponse" in fetch(sim, reference).content
    sim.clock.advance(1.1)
    sim.control.flex_inject_error(1001, step="SendRequest", count=None)
    assert send(sim)["ErrorCode"] == "1001"
    sim.clock.advance(1.1)
    assert send(sim)["ErrorCode"] == "1001"


def test_a_reference_belongs_to_its_token(sim):
    other = sim.control.flex_create_token()["token"]
    reference = reference_of(sim)
    sim.clock.advance(5)
    assert fields(fetch(sim, reference, token=other))["ErrorCode"] == "1017"


@pytest.mark.parametrize(("days", "expected"), [(365, "Success"), (366, "1020")])
def test_a_request_covers_at_most_365_days(sim, days, expected):
    today = sim.server.state.today()
    answer = send(sim, fd=(today - dt.timedelta(days=days)).strftime("%Y%m%d"),
                  td=(today - dt.timedelta(days=1)).strftime("%Y%m%d"))
    assert answer.get("Status") == expected or answer.get("ErrorCode") == expected


def test_a_range_before_the_accounts_opened_gets_1003(sim):
    today = sim.server.state.today()
    answer = send(sim, fd=(today - dt.timedelta(days=700)).strftime("%Y%m%d"),
                  td=(today - dt.timedelta(days=600)).strftime("%Y%m%d"))
    assert answer["ErrorCode"] == "1003"


def test_a_query_gives_its_period_and_only_its_sections(sim):
    query = sim.control.flex_create_query(
        period="Last7CalendarDays", sections=["EquitySummaryInBase", "OpenPositions"],
        accounts=["U3456789"], positions="end")["query_id"]
    statement = parser.parse(ready_statement(sim, query=query))
    (only,) = statement.FlexStatements
    today = sim.server.state.today()
    assert only.accountId == "U3456789" and only.period == "Last7CalendarDays"
    assert (only.fromDate, only.toDate) == (today - dt.timedelta(days=7),
                                            today - dt.timedelta(days=1))
    assert 1 <= len(only.EquitySummaryInBase) <= 5
    assert all(only.fromDate <= row.reportDate <= only.toDate
               for row in only.EquitySummaryInBase)
    assert {row.reportDate for row in only.OpenPositions} == {
        only.EquitySummaryInBase[-1].reportDate}  # positions: "end"
    assert len(only.OpenPositions) == 10
    assert only.AccountInformation is None and only.ConversionRates == () \
        and only.Trades == () and only.CashReport == ()


def test_statements_agree_with_portfolio_analyst_in_every_account(sim):
    sim.control.login()
    fd, td = weekday_range(sim, 20)
    statement = parser.parse(ready_statement(sim, query=YEAR_QUERY, fd=fd, td=td))
    performance = sim.post("/pa/performance", json={"acctIds": ACCOUNTS, "period": "1Y"}).json()
    navs = {entry["id"]: dict(zip(performance["nav"]["dates"], entry["navs"], strict=True))
            for entry in performance["nav"]["data"]}
    bases = {"U1234567": "USD", "U2345678": "EUR", "U3456789": "GBP"}
    assert [one.accountId for one in statement.FlexStatements] == ACCOUNTS
    for one in statement.FlexStatements:
        assert one.period == "CustomDateRange"
        assert one.AccountInformation.currency == bases[one.accountId]
        summary = one.EquitySummaryInBase
        assert len(summary) >= 10
        for row in summary:
            assert float(row.total) == navs[one.accountId][row.reportDate.strftime("%Y%m%d")]
        days = {row.reportDate for row in summary}
        assert {row.reportDate for row in one.OpenPositions} == days  # every day's end
        per_day = len(one.OpenPositions) // len(days)
        assert per_day == {"U1234567": 250, "U2345678": 16, "U3456789": 10}[one.accountId]
        rates = {(rate.reportDate, rate.fromCurrency): float(rate.rate)
                 for rate in one.ConversionRates}
        assert all(rate.toCurrency == bases[one.accountId] for rate in one.ConversionRates)
        assert rates[(min(days), bases[one.accountId])] == 1.0
        cash = {row.currency: row for row in one.CashReport}
        assert "BASE_SUMMARY" in cash
        assert one.ChangeInNAV.endingValue == summary[-1].total
    usd_account = statement.FlexStatements[0]
    euro_rows = [row for row in usd_account.ConversionRates if row.fromCurrency == "EUR"]
    assert float(euro_rows[0].rate) == pytest.approx(1.08)


def test_a_csv_query_answers_csv_text(sim):
    query = sim.control.flex_create_query(output="CSV", period="Last7CalendarDays")["query_id"]
    body = ready_statement_raw(sim, query)
    lines = body.decode().splitlines()
    assert lines[0] == '"ClientAccountID","CurrencyPrimary","ReportDate","Total"'
    assert len(lines) > 3


def ready_statement_raw(sim, query: str) -> bytes:
    reference = reference_of(sim, query=query)
    sim.clock.advance(5)
    return fetch(sim, reference).content


def test_version_2_and_the_legacy_paths(sim):
    legacy = "/Universal/servlet/FlexStatementService"
    answer = fields(call(sim, "SendRequest", prefix=legacy, t=DEMO_TOKEN, q=DAILY_QUERY, v="3"))
    assert answer["Url"] == f"{sim.base_url}{legacy}.GetStatement"
    sim.clock.advance(1.1)
    # ib_insync/ib_async ask without v and read a <code> child while it is not ready.
    waiting = call(sim, "GetStatement", prefix=legacy, t=DEMO_TOKEN, q=answer["ReferenceCode"])
    assert xml_of(waiting)[0].tag == "code"
    assert xml_of(waiting)[0].text.startswith("Statement generation in progress")
    sim.clock.advance(5)
    ready = call(sim, "GetStatement", prefix=legacy, t=DEMO_TOKEN, q=answer["ReferenceCode"])
    assert xml_of(ready).tag == "FlexQueryResponse"


@pytest.mark.parametrize("variant", [
    {},
    {"positions": "end"},
    {"date_format": "yyyy-MM-dd"},
    {"quirks": True},
    {"accounts": ["U2345678"]},
    {"sections": ["EquitySummaryInBase"]},
])
def test_ibflex_parses_every_statement_variant(sim, variant):
    query = sim.control.flex_create_query(period="Last30CalendarDays", **variant)["query_id"]
    body = ready_statement(sim, query=query)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        statement = parser.parse(body)
    assert len(statement.FlexStatements) == len(variant.get("accounts", ACCOUNTS))
    for one in statement.FlexStatements:
        assert len(one.EquitySummaryInBase) >= 15
        assert all(row.total > 0 for row in one.EquitySummaryInBase)
    if variant.get("quirks"):
        # The unknown attribute and section are skipped with a warning, not an error.
        assert seen and b"," in body and b'strike="-"' in body


def test_transport_faults_stand_between_the_client_and_the_service(sim):
    sim.control.flex_add_fault("status", step="SendRequest", status=503)
    answer = requests.get(f"{sim.base_url}{SERVICE}/SendRequest", verify=sim.verify, timeout=10,
                          params={"t": DEMO_TOKEN, "q": DAILY_QUERY, "v": "3"})
    assert answer.status_code == 503 and answer.text.startswith("<!DOCTYPE html>")
    assert sim.control.flex_requests()["calls"]["SendRequest"] == 0  # never reached the service
    sim.control.flex_add_fault("html", step="SendRequest")
    assert call(sim, "SendRequest", t=DEMO_TOKEN, q=DAILY_QUERY, v="3").text.startswith(
        "<!DOCTYPE html>")
    reference = reference_of(sim)
    sim.clock.advance(5)
    sim.control.flex_add_fault("truncated", step="GetStatement")
    cut = fetch(sim, reference).content
    with pytest.raises(ET.ParseError):
        ET.fromstring(cut)  # noqa: S314 (our simulator's answer)
    sim.clock.advance(1.1)
    whole = fetch(sim, reference).content
    assert whole.startswith(cut) and len(cut) == len(whole) // 2
    assert sim.control.flex_requests()["faults"] == []


def test_a_latency_fault_delays_the_answer(sim):
    sim.control.flex_add_fault("latency", step="SendRequest", delay_s=0.3)
    started = time.monotonic()
    assert send(sim)["Status"] == "Success"
    assert time.monotonic() - started >= 0.3


def test_a_history_correction_shows_in_the_statement(sim):
    fd, td = weekday_range(sim, 10)
    day = sim.control.history("U2345678", start=fd, end=td)[-1]
    conid = next(iter(day["positions"]))
    sim.control.correct_history("U2345678", day["date"], nav=4242.42, quantities={int(conid): 7})
    query = sim.control.flex_create_query(accounts=["U2345678"])["query_id"]
    (one,) = parser.parse(ready_statement(sim, query=query, fd=fd, td=td)).FlexStatements
    rows = {row.reportDate.strftime("%Y%m%d"): row for row in one.EquitySummaryInBase}
    assert float(rows[day["date"]].total) == 4242.42
    held = {(row.reportDate.strftime("%Y%m%d"), row.conid): float(row.position)
            for row in one.OpenPositions}
    assert held[(day["date"], conid)] == 7.0
