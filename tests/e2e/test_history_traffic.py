"""The traffic promise (issue 19): with Flex not set up, the connector contacts nothing but the
gateway and Veracity — proven by running it behind a recording proxy (HTTP_PROXY/HTTPS_PROXY,
which every non-gateway request of the connector honours) with its Flex address pointed at a
recording server. The same run then sets Flex up and sees the Flex host contacted: the check can
fail."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.support.waiting import wait_until

SMALL_BOOK = [{"account_id": "U9001", "base_currency": "USD", "cash": {"USD": 1000},
               "positions": [{"conid": 9301, "ticker": "ACME", "market_price": 10,
                              "quantity": 5}]}]
HOP_HEADERS = {"proxy-connection", "proxy-authorization", "connection", "keep-alive",
               "transfer-encoding"}


class Recorder:
    """Hosts (host:port) seen, in order; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hosts: list[str] = []

    def add(self, host: str) -> None:
        with self.lock:
            self.hosts.append(host)

    def seen(self) -> set[str]:
        with self.lock:
            return set(self.hosts)


def proxy_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class ForwardingProxy(BaseHTTPRequestHandler):
        """A plain forward proxy: records every target, relays http, refuses CONNECT."""

        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_CONNECT(self) -> None:
            recorder.add(self.path)
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def relay(self) -> None:
            target = urlsplit(self.path)
            recorder.add(f"{target.hostname}:{target.port or 80}")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {name: value for name, value in self.headers.items()
                       if name.lower() not in HOP_HEADERS}
            connection = http.client.HTTPConnection(target.hostname, target.port or 80,
                                                    timeout=30)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                connection.request(self.command, path or "/", body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
            except OSError:
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            finally:
                connection.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_HEADERS | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = relay

    return ForwardingProxy


def recording_server(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class FlexStandIn(BaseHTTPRequestHandler):
        """Stands where IBKR's Flex service would be: records, answers a Flex failure."""

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            recorder.add(f"direct {urlsplit(self.path).path}")
            body = (b"<FlexStatementResponse><Status>Fail</Status><ErrorCode>1009</ErrorCode>"
                    b"<ErrorMessage>busy</ErrorMessage></FlexStatementResponse>")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return FlexStandIn


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, str, Recorder, str]]:
    proxy_seen, flex_seen = Recorder(), Recorder()
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(proxy_seen))
    flex = ThreadingHTTPServer(("127.0.0.1", 0), recording_server(flex_seen))
    threads = [threading.Thread(target=server.serve_forever, daemon=True)
               for server in (proxy, flex)]
    for thread in threads:
        thread.start()
    try:
        yield (proxy_seen, f"http://127.0.0.1:{proxy.server_address[1]}", flex_seen,
               f"http://127.0.0.1:{flex.server_address[1]}/AccountManagement/FlexWebService")
    finally:
        for server in (proxy, flex):
            server.shutdown()
            server.server_close()


def history_state(connector) -> dict:
    path = connector.home / "data" / "history.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_without_flex_only_the_gateway_and_veracity_are_contacted(connector, veracity,
                                                                  gateway_process, servers):
    proxy_seen, proxy_url, flex_seen, flex_url = servers
    gateway_process.control.set_accounts(SMALL_BOOK)  # quick snapshots: the traffic matters
    veracity_host = urlsplit(veracity.base_url).netloc
    flex_host = urlsplit(flex_url).netloc
    connector.env.update({"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url,
                          "http_proxy": proxy_url, "https_proxy": proxy_url,
                          "IBKR_CONNECTOR_FLEX_URL": flex_url})
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        connector.env.pop(name, None)
    paired = connector("pair", "-", stdin=veracity.issue_token("e2e@example.com") + "\n")
    assert paired.returncode == 0, paired.stdout + paired.stderr
    with connector.start_run():
        # Live syncing and the gateway's year of history, both delivered through the proxy.
        wait_until(lambda: history_state(connector).get("gateway", {}).get("done"),
                   timeout_s=90, message="the gateway's history was not read")
        wait_until(lambda: connector.status()["pending_snapshots"] == 0, timeout_s=60,
                   message="snapshots not delivered")
        assert proxy_seen.seen() == {veracity_host}
        assert flex_seen.seen() == set()
        assert gateway_process.control.endpoint("/pa/performance")["count"] == 1

        # The control: once Flex is set up, the Flex address is contacted (through the proxy).
        result = connector("flex", "set", "--query-id", "4242",
                           stdin="123456789012345678901234\n")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "one exception" in result.stdout
        assert "123456789012345678901234" not in result.stdout
        wait_until(lambda: flex_host in proxy_seen.seen(), timeout_s=60,
                   message="the Flex service was not contacted after set-up")
        wait_until(lambda: history_state(connector).get("flex", {}).get("state") ==
                   "service_busy", timeout_s=30, message="the Flex failure was not recorded")
    assert proxy_seen.seen() == {veracity_host, flex_host}
    log = connector.log_file.read_text(errors="replace")
    assert "123456789012345678901234" not in log  # the token never reaches the log
    status = connector("flex", "status", "--json")
    assert json.loads(status.stdout)["state"] == "service_busy"
    assert connector("flex", "remove").returncode == 0
    assert "not set up" in connector("flex", "status").stdout
