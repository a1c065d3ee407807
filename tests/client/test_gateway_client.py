"""The gateway client against the simulator over real HTTPS: session states, errors, TLS."""

from __future__ import annotations

import warnings

import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from tests.support.processes import free_port
from veracity_connector.gateway import GatewayClient, Pacer
from veracity_connector.gateway.errors import (
    GatewayConfigurationError,
    GatewayRateLimited,
    GatewayServerError,
)
from veracity_connector.state import GatewayState


def test_logged_out_gateway_is_unauthenticated(gateway):
    check = gateway.check_session()
    assert check.state is GatewayState.UNAUTHENTICATED
    assert "log in" in check.message and gateway.transport.address.base_url in check.message


def test_logged_in_gateway_is_ok(simulator, gateway):
    simulator.control.login()
    assert gateway.check_session().state is GatewayState.OK


def test_connected_without_brokerage_session_opens_one_with_ssodh_init(simulator, gateway):
    simulator.control.login(brokerage=False)
    assert gateway.check_session().state is GatewayState.OK
    assert simulator.control.endpoint("/iserver/auth/ssodh/init")["accepted"] == 1
    assert simulator.control.session()["authenticated"] is True


def test_competing_session_is_reported_and_not_taken_over(simulator, gateway):
    simulator.control.login()
    simulator.control.make_competing()
    check = gateway.check_session()
    assert check.state is GatewayState.COMPETING
    assert check.message == ("IBKR session in use on another device — syncing resumes when it "
                             "is free") and check.waiting
    assert simulator.control.endpoint("/iserver/auth/ssodh/init")["count"] == 0


def test_disconnected_gateway_is_unauthenticated(simulator, gateway):
    simulator.control.login()
    simulator.control.set_connected(False)
    assert gateway.check_session().state is GatewayState.UNAUTHENTICATED


def test_tickle_200_no_session_is_unauthenticated(simulator, gateway):
    simulator.control.configure(tickle_no_session_200=True)
    assert gateway.check_session().state is GatewayState.UNAUTHENTICATED


def test_5xx_is_error_state(simulator, gateway):
    simulator.control.login()
    simulator.control.add_fault("status", endpoint="/tickle", count=1, status=503)
    check = gateway.check_session()
    assert check.state is GatewayState.ERROR and "503" in check.message
    with pytest.raises(GatewayServerError):
        simulator.control.add_fault("status", endpoint="/portfolio/accounts", count=1)
        gateway.portfolio.accounts()


def test_dropped_connection_and_slow_answer_are_unreachable(simulator, folders):
    simulator.control.login()
    client = GatewayClient.for_url(simulator.base_url, pacer=Pacer(), timeout_s=0.5)
    try:
        simulator.control.add_fault("reset", endpoint="/tickle", count=1)
        assert client.check_session().state is GatewayState.UNREACHABLE
        simulator.control.add_fault("latency", endpoint="/tickle", count=1, delay_s=3)
        check = client.check_session()
        assert check.state is GatewayState.UNREACHABLE and "did not answer" in check.message
    finally:
        client.close()


def test_nothing_listening_is_unreachable():
    client = GatewayClient.for_url(f"https://127.0.0.1:{free_port()}", pacer=Pacer())
    check = client.check_session()
    client.close()
    assert check.state is GatewayState.UNREACHABLE
    assert "start the IBKR gateway" in check.message


def test_429_is_error_and_stops_every_request_for_the_backoff(simulator, gateway):
    simulator.control.login()
    # Someone else (another client on this machine) just used the per-endpoint allowance.
    requests.get(f"{simulator.base_url}/v1/api/portfolio/accounts", verify=False, timeout=5)  # noqa: S501 (self-signed loopback)
    with pytest.raises(GatewayRateLimited):
        gateway.portfolio.accounts()
    assert gateway.transport.pacer.seconds_until_free() > 0
    assert simulator.control.endpoint("/portfolio/accounts")["refused_429"] == 1


@pytest.mark.parametrize("url", ["https://192.168.1.20:5000", "https://example.com",
                                 "ftp://localhost:5000"])
def test_non_loopback_gateway_is_refused(url):
    with pytest.raises(GatewayConfigurationError):
        GatewayClient.for_url(url)


def test_no_insecure_warning_from_our_session_but_others_still_warn(simulator, gateway):
    simulator.control.login()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gateway.check_session()
        ours = [w for w in caught if issubclass(w.category, InsecureRequestWarning)]
        requests.get(f"{simulator.base_url}/v1/api/tickle", verify=False, timeout=5)  # noqa: S501 (self-signed loopback)
        everyone = [w for w in caught if issubclass(w.category, InsecureRequestWarning)]
    assert ours == []
    assert everyone, "the suppression must not be global"
