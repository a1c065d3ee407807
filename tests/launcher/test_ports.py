"""Telling a free port from one held by a gateway or by another program."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.processes import port_held_by_another_program
from veracity_connector.launcher.ports import (
    PortOccupant,
    find_free_port,
    identify_port_occupant,
    port_is_free,
)


class _WebPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>AirPlay</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def web_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_a_free_port_is_free() -> None:
    port = find_free_port()
    assert port_is_free(port)
    assert identify_port_occupant(port) is PortOccupant.FREE


def test_a_raw_listener_is_another_program() -> None:
    with port_held_by_another_program() as port:
        assert not port_is_free(port)
        assert identify_port_occupant(port, timeout_s=1) is PortOccupant.OTHER


def test_a_web_server_that_is_not_the_gateway_is_another_program(web_server: int) -> None:
    assert identify_port_occupant(web_server, use_tls=True) is PortOccupant.OTHER


def test_find_free_port_avoids_the_ports_it_is_told_to() -> None:
    first = find_free_port()
    assert find_free_port(avoid={first}) != first
