"""ibflex's own client (PyPI, unmodified) downloads from the Flex simulator with only its URL
pointed at it. Its waits (time.sleep) move the simulator's manual clock instead of passing."""

from __future__ import annotations

import types

import pytest
from ibflex import client, parser

DEMO_TOKEN = "463927185020316478529401"


@pytest.fixture
def sim(gateway_sim_factory, monkeypatch):
    sim = gateway_sim_factory(manual_clock=True)
    # ibflex calls requests with default verification: trust the simulator's certificate.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.certificate_path))
    monkeypatch.setattr(client, "REQUEST_URL",
                        f"{sim.base_url}/AccountManagement/FlexWebService/SendRequest")
    # ibflex sleeps 5 s on 1019 and 10 s on 1018: let those seconds pass on the simulator.
    monkeypatch.setattr(client, "time", types.SimpleNamespace(sleep=sim.clock.advance))
    return sim


def test_ibflex_downloads_a_statement_and_parses_it(sim):
    sim.control.flex_configure(generation_delay_s=12)
    body = client.download(DEMO_TOKEN, "987655")
    statement = parser.parse(body)
    assert [one.accountId for one in statement.FlexStatements] == [
        "U1234567", "U2345678", "U3456789"]
    assert all(len(one.EquitySummaryInBase) == 1 for one in statement.FlexStatements)
    counters = sim.control.flex_requests()
    # Step 2 came at once (1018: 1 request a second), then after 10 s (1019: 12 s delay),
    # then after 5 s more: the statement.
    assert counters["calls"] == {"SendRequest": 1, "GetStatement": 3}
    assert counters["tokens"][DEMO_TOKEN]["refused_1018"] == 1


def test_ibflex_reports_the_simulators_error_codes(sim):
    with pytest.raises(client.ResponseCodeError) as raised:
        client.download("111111111111111111111111", "987655")
    assert raised.value.code == "1015"
    sim.control.flex_inject_error(1021, step="GetStatement")
    sim.clock.advance(2)
    with pytest.raises(client.ResponseCodeError) as raised:
        client.download(DEMO_TOKEN, "987655")
    assert (raised.value.code, raised.value.msg) == (
        "1021", "Statement could not be retrieved at this time. Please try again shortly.")
