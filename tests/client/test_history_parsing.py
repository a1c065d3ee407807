"""The history package's pure parts: /pa/performance read whole or refused whole, batches that
fit Veracity's limits and its contract, the outbox's new kind column on an old outbox file, and
Flex statement edge cases (a missing section, a DTD, ibflex on the simulator's quirks)."""

from __future__ import annotations

import sqlite3
import time
from datetime import date
from decimal import Decimal

import pytest

from veracity_connector.history.flex_errors import FlexError
from veracity_connector.history.flex_statement import parse_statement
from veracity_connector.history.gateway_history import (
    GatewayHistoryUnreadable,
    parse_performance,
)
from veracity_connector.history.payload import HistoryLimits, batches, iter_days
from veracity_connector.history.points import DailyPoint, DailyPosition, DailySeries
from veracity_connector.outbox import HISTORY, SNAPSHOT, Outbox
from veracity_contract.daily_history import DailyHistoryRequest


def performance(navs_a, dates=("20261201", "20261202", "20261203")):
    return {"nav": {"dates": list(dates), "data": [
        {"id": "U1", "idType": "acctid", "baseCurrency": "USD", "navs": navs_a},
        {"id": "U2", "idType": "acctid", "baseCurrency": "EUR",
         "navs": [Decimal("5"), Decimal("6"), Decimal("7")]}]}}


def test_performance_navs_are_exact_and_blank_days_skipped():
    series = parse_performance(performance([Decimal("100.10"), None, "1,234.5"]), ["U1", "U2"])
    u1 = [point for point in series.points if point.account_id == "U1"]
    assert [(point.day, point.nav) for point in u1] == [
        (date(2026, 12, 1), Decimal("100.10")), (date(2026, 12, 3), Decimal("1234.5"))]
    assert series.days == 3 and series.last_day == date(2026, 12, 3)


@pytest.mark.parametrize("body", [
    performance([Decimal("1"), Decimal("2")]),  # fewer navs than dates
    performance([Decimal("1"), "abc", Decimal("3")]),  # a NAV that is not a number
    performance([Decimal("1"), Decimal("2"), Decimal("3")], dates=("20261201", "1.12.26",
                                                                    "20261203")),
    {"nav": {"dates": []}}, [], {"rc": 0},
])
def test_an_unreadable_series_is_refused_whole(body):
    with pytest.raises(GatewayHistoryUnreadable):
        parse_performance(body, ["U1", "U2"])


def year(positions: int = 0) -> DailySeries:
    points = []
    for offset in range(300):
        day = date.fromordinal(date(2026, 1, 1).toordinal() + offset)
        for account, currency in (("U1", "USD"), ("U2", "GBP")):
            held = tuple(DailyPosition(conid=1000 + number, symbol=f"S{number}",
                                       asset_class="STK", currency="USD",
                                       quantity=Decimal(number), market_price=Decimal("1.5"),
                                       market_value=Decimal("1.5") * number,
                                       fx_rate_to_base=Decimal("0.8"))
                         for number in range(positions)) if positions else None
            points.append(DailyPoint(account, day, Decimal(f"{offset}.25"), currency, held))
    return DailySeries("flex" if positions else "gateway", tuple(points))


def test_batches_are_whole_days_under_the_limits_and_follow_the_contract():
    series = year(positions=30)
    limits = HistoryLimits(days_per_request=100, positions_per_request=2500,
                           request_bytes=200_000)
    found = batches(series, limits)
    assert len(found) > 3
    days_seen: list[date] = []
    for batch in found:
        request = DailyHistoryRequest.model_validate_json(batch.body)  # the server's model
        assert request.source == "flex"
        points = sum(len(account.days) for account in request.accounts)
        positions = sum(len(day.positions or []) for account in request.accounts
                        for day in account.days)
        assert points <= 100 and positions <= 2500 and len(batch.body) <= 200_000
        per_account = [sorted(day.report_date for day in account.days)
                       for account in request.accounts]
        assert per_account[0] == per_account[1]  # a day's points travel together
        days_seen += per_account[0]
        assert sorted(set(iter_days(batch.body))) == per_account[0]
    assert days_seen == sorted({point.day for point in series.points})  # each day once
    assert [batch.item_id for batch in batches(series, limits)] == [
        batch.item_id for batch in found]  # the same series → the same outbox ids


def test_gateway_batches_carry_no_positions_and_exact_numbers():
    [batch] = batches(year())
    request = DailyHistoryRequest.model_validate_json(batch.body)
    assert request.source == "gateway"
    assert all(day.positions is None for account in request.accounts for day in account.days)
    assert '"nav":"299.25"' in batch.body


def test_an_outbox_written_before_history_gains_the_kind_column(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_id TEXT NOT "
            "NULL UNIQUE, taken_at TEXT NOT NULL, queued_at REAL NOT NULL, size INTEGER NOT "
            "NULL, body TEXT NOT NULL);")
        connection.execute(
            "INSERT INTO outbox (snapshot_id, taken_at, queued_at, size, body) VALUES "
            "('old', '2026-01-01T00:00:00+00:00', ?, 2, '{}')", (time.time(),))
    outbox = Outbox(path)
    outbox.put_many([("h1", "2026-01-02T00:00:00+00:00", '{"source":"gateway"}')], HISTORY)
    assert [(item.snapshot_id, item.kind) for item in outbox.oldest(5)] == [
        ("old", SNAPSHOT), ("h1", HISTORY)]
    assert (outbox.count(), outbox.count(SNAPSHOT), outbox.count(HISTORY)) == (2, 1, 1)


STATEMENT = (b'<FlexQueryResponse queryName="q" type="AF"><FlexStatements count="1">'
             b'<FlexStatement accountId="U1" fromDate="20261201" toDate="20261202" '
             b'period="LastBusinessDay" whenGenerated="20261203;083012">'
             b'<AccountInformation accountId="U1" currency="USD"/>%s'
             b'</FlexStatement></FlexStatements></FlexQueryResponse>')
EQUITY = (b'<EquitySummaryInBase><EquitySummaryByReportDateInBase accountId="U1" '
          b'currency="USD" reportDate="20261201" total="1,000.50"/>'
          b'<EquitySummaryByReportDateInBase accountId="U1" currency="USD" '
          b'reportDate="20261202" total="1010"/></EquitySummaryInBase>')
POSITIONS = (b'<OpenPositions><OpenPosition accountId="U1" currency="EUR" fxRateToBase="1.1" '
             b'assetCategory="STK" symbol="SAP" conid="14204" position="3" markPrice="120.5" '
             b'positionValue="361.5" reportDate="20261202" levelOfDetail="SUMMARY" '
             b'brandNewAttribute="x"/></OpenPositions>')


def test_a_statement_gives_daily_navs_and_positions_on_their_days():
    series = parse_statement(STATEMENT % (EQUITY + POSITIONS))
    first, second = series.points
    assert (first.nav, first.positions, first.base_currency) == (Decimal("1000.50"), None, "USD")
    [position] = second.positions or ()
    assert (position.conid, position.quantity, position.fx_rate_to_base,
            position.asset_class) == (14204, Decimal("3"), Decimal("1.1"), "STK")


@pytest.mark.parametrize(("body", "state"), [
    (STATEMENT % POSITIONS, "query_missing_section"),
    (b"Date,Total\n20261201,1000\n", "malformed_xml"),  # a CSV query
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + STATEMENT % EQUITY, "malformed_xml"),
    (STATEMENT.replace(b'count="1"', b'count="2"') % EQUITY, "malformed_xml"),
    (STATEMENT % EQUITY.replace(b"20261202", b"02/12/2026"), "malformed_xml"),
])
def test_a_statement_that_cannot_be_taken_whole_is_refused(body, state):
    with pytest.raises(FlexError) as refused:
        parse_statement(body)
    assert refused.value.state == state


def test_a_new_pairing_starts_history_over_but_keeps_the_pacing_window(tmp_path):
    from veracity_connector.history.history_state import load_history_state, save_history_state

    (tmp_path / "pairing.json").write_text('{"account_id": "a", "connector_id": "first"}')
    state = load_history_state(tmp_path)
    state.gateway.done, state.gateway.last_request_at = True, 1234.5
    state.flex.last_day = "2026-12-01"
    save_history_state(tmp_path, state)
    assert load_history_state(tmp_path).gateway.done
    (tmp_path / "pairing.json").write_text('{"account_id": "a", "connector_id": "second"}')
    fresh = load_history_state(tmp_path)
    assert (fresh.connector_id, fresh.gateway.done, fresh.flex.last_day) == ("second", False,
                                                                            None)
    assert fresh.gateway.last_request_at == 1234.5  # IBKR's window is the gateway's, not ours
