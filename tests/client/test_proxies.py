"""Proxies: Veracity's traffic through a real proxy (Debian's tinyproxy on loopback, started and
stopped here), the setting over the environment, the gateway never proxied, and a proxy that
wants a password (407) is a clear "Veracity unreachable" with the key and outbox kept.

The live server speaks plain http on loopback, so the environment's variable here is
HTTP_PROXY; HTTPS_PROXY is the same mechanism for an https Veracity (requests picks by scheme).
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.processes import ManagedProcess, free_port
from tests.support.system import require_executable
from veracity_connector.credentials import FileStore
from veracity_connector.engine import Engine
from veracity_connector.gateway import GatewayClient, Pacer
from veracity_connector.proxies import validate_proxy_setting
from veracity_connector.settings import Settings
from veracity_connector.state import ConnectorState, GatewayState
from veracity_connector.veracity_api import VeracityClient, VeracityUnavailable

HEARTBEAT = {"connector_version": "1.0.0", "uptime_s": 1, "last_snapshot_at": None,
             "gateway": {"state": "ok", "message": "", "port": 5000}}


class Tinyproxy:
    """tinyproxy on a free loopback port with its own config and log."""

    def __init__(self, folder: Path, basic_auth: tuple[str, str] | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = folder / "tinyproxy.log"
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Timeout 30", "LogLevel Info",
                 f'LogFile "{self.log}"', "MaxClients 20", "Allow 127.0.0.1"]
        if basic_auth:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        config = folder / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        self.process = ManagedProcess(["tinyproxy", "-d", "-c", str(config)],
                                      log_path=folder / "tinyproxy.out", name="tinyproxy",
                                      ready_check=self._accepts,
                                      ready_retry_on=(OSError,))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accepts(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def requests_for(self, path: str) -> int:
        """How many requests for `path` the proxy forwarded (or refused)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if "Request (file descriptor" in line
                   and path in line)


@pytest.fixture
def start_proxy(tmp_path) -> Iterator[Callable[..., Tinyproxy]]:
    require_executable("tinyproxy", "tinyproxy")
    started: list[Tinyproxy] = []

    def start(basic_auth: tuple[str, str] | None = None) -> Tinyproxy:
        proxy = Tinyproxy(tmp_path / f"proxy-{len(started)}", basic_auth)
        proxy.process.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.process.stop()


@pytest.fixture
def key(server) -> str:
    email = f"proxy-{free_port()}@example.com"
    server.create_user(email)
    return server.pair(email)[1]


@pytest.fixture
def no_proxy_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def dead_proxy() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: a request through it fails


def test_the_environments_proxy_carries_veracity_traffic(server, key, start_proxy,
                                                         no_proxy_environment):
    proxy = start_proxy()
    no_proxy_environment.setenv("HTTP_PROXY", proxy.url)
    client = VeracityClient(server.base_url)
    client.heartbeat(key, HEARTBEAT)
    assert proxy.requests_for("/api/v1/connector/heartbeat") == 1


def test_no_proxy_is_honoured(server, key, start_proxy, no_proxy_environment):
    proxy = start_proxy()
    no_proxy_environment.setenv("HTTP_PROXY", proxy.url)
    no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    VeracityClient(server.base_url).heartbeat(key, HEARTBEAT)
    assert proxy.requests_for("/api/v1/connector/heartbeat") == 0


def test_the_setting_overrides_the_environment_both_ways(server, key, start_proxy,
                                                         no_proxy_environment):
    proxy = start_proxy()
    no_proxy_environment.setenv("HTTP_PROXY", dead_proxy())
    no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    VeracityClient(server.base_url, proxy=proxy.url).heartbeat(key, HEARTBEAT)
    assert proxy.requests_for("/api/v1/connector/heartbeat") == 1
    no_proxy_environment.delenv("NO_PROXY")  # the dead proxy would now be used ...
    with pytest.raises(VeracityUnavailable):
        VeracityClient(server.base_url, retries=0).heartbeat(key, HEARTBEAT)
    # ... unless the setting says "none".
    VeracityClient(server.base_url, proxy="none").heartbeat(key, HEARTBEAT)
    assert proxy.requests_for("/api/v1/connector/heartbeat") == 1


def test_a_proxy_that_wants_a_password_is_a_clear_state_and_the_key_is_kept(
        server, key, start_proxy, simulator, folders, no_proxy_environment):
    proxy = start_proxy(basic_auth=("alice", "s3cret"))
    simulator.control.login()
    credentials = FileStore(folders.data_dir / "connector-key")
    credentials.set(key)

    def engine_through(proxy_url: str) -> Engine:
        settings = Settings(veracity_url=server.base_url, gateway_url=simulator.base_url,
                            key_store="file", proxy=proxy_url)
        return Engine(settings, folders, credentials=credentials, write_status_file=False)

    refused = engine_through(proxy.url)
    refused.step()
    assert refused.status.state is ConnectorState.VERACITY_UNREACHABLE
    assert "proxy" in refused.status.message.lower()
    assert proxy.requests_for("/api/v1/connector/") >= 1
    assert credentials.get() == key  # not taken for a revocation
    assert refused.outbox.count() >= 1  # the snapshot waits
    refused.gateway.close()

    with_password = engine_through(proxy.url.replace("://", "://alice:s3cret@"))
    with_password.step()
    assert with_password.status.state is ConnectorState.SYNCING
    assert with_password.outbox.count() == 0
    with_password.gateway.close()


def test_the_gateway_never_goes_through_a_proxy(simulator, no_proxy_environment):
    simulator.control.login()  # the test's own control client would take the proxy
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        no_proxy_environment.setenv(name, dead_proxy())
    client = GatewayClient.for_url(simulator.base_url, pacer=Pacer())
    try:
        assert client.check_session().state is GatewayState.OK
    finally:
        client.close()


def test_requests_reads_the_windows_system_proxy_through_urllib():
    """On Windows `urllib.request.getproxies()` reads Internet Options from the registry when
    no variable is set; requests asks exactly that function for every request."""
    assert requests.utils.getproxies is urllib.request.getproxies


@pytest.mark.parametrize(("value", "problem"), [
    ("proxy.example.com:3128", "must be 'none' or a proxy address"),
    ("http://proxy.example.com", "must name the proxy's port"),
    ("ftp://proxy.example.com:21", "must be 'none' or a proxy address"),
])
def test_a_bad_proxy_setting_is_refused(value, problem):
    with pytest.raises(ValueError, match=problem):
        validate_proxy_setting(value)
    assert validate_proxy_setting(" NONE ") == "none"
