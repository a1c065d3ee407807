"""`SimulatorServer`: serve the simulator over HTTPS (or HTTP) from a thread (CLI and tests)."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import socket
import ssl
import struct
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from ibkr_gateway_sim.app import create_app
from ibkr_gateway_sim.gateway_conf import GatewayConf
from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.session import Clock
from ibkr_gateway_sim.state import SimulatorState
from ibkr_gateway_sim.tls import server_tls_context

_log = logging.getLogger("ibkr_gateway_sim")


class PortInUseError(OSError):
    """The port the simulator should listen on is taken."""


class _GatewayRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, plus a way for a fault to drop the connection without answering."""

    timeout = 120  # an idle keep-alive connection is closed after this (seconds)

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            # The handshake runs here, in this connection's thread, so a client that connects
            # and stalls cannot hold up accepting other connections.
            self.connection.do_handshake()

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ["ibkr_gateway_sim.handler"] = self
        return environ

    def drop_connection(self) -> None:
        """Reset the TCP connection (RST, no HTTP answer), like a crashed or killed gateway."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.wfile = io.BytesIO()  # whatever the app still writes goes nowhere
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        _log.debug("%s %s -> %s", self.command, self.path, code)

    def log_error(self, format: str, *args: Any) -> None:
        _log.debug("connection problem: " + format, *args)


class _GatewayHTTPServer(ThreadedWSGIServer):
    """Threaded server that wraps TLS per connection and can close every open connection."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, *args: Any, tls_context: ssl.SSLContext | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tls_context = tls_context
        self.ssl_context = tls_context  # werkzeug reads it for wsgi.url_scheme and SSL errors
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        # Headers and body go out in separate writes: without NODELAY, Nagle's algorithm can
        # hold the body back until the client acknowledges the headers.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_context is not None:
            connection = self.tls_context.wrap_socket(connection, server_side=True,
                                                      do_handshake_on_connect=False)
        with self.connections_lock:
            self.open_connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Close keep-alive connections too, so a stopped simulator really stops answering."""
        with self.connections_lock:
            connections = list(self.open_connections)
            self.open_connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-request or reject the certificate are normal here.
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """Bind and listen, or raise PortInUseError with a message a person can act on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as error:
        listener.close()
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUseError(
                error.errno, f"port {port} on {host} is already in use (or not allowed): "
                "stop the program using it or choose another port") from None
        raise
    return listener


class SimulatorServer:
    """A running simulator: start it (port 0 picks a free port), use `.base_url`, `.stop()` it."""

    def __init__(self, options: SimulatorOptions | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, use_tls: bool = True, clock: Clock | None = None,
                 ips: GatewayConf | None = None) -> None:
        self.options = options or SimulatorOptions()
        self.host = host
        self.requested_port = port
        self.use_tls = use_tls
        self.ips = ips or GatewayConf()  # conf.yaml's ips.allow / ips.deny (default: all in)
        self.state = SimulatorState(self.options, clock=clock)
        self.certificate_pem: str | None = None
        self._server: _GatewayHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_port: int | None = None

    @property
    def port(self) -> int:
        """The port listened on (the last one while stopped, so URLs survive a restart)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        if self._last_port is None:
            raise RuntimeError("the simulator was never started")
        return self._last_port

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:<port>` (no trailing slash); the gateway API is under /v1/api."""
        scheme = "https" if self.use_tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The base URL gateway clients take: `<base_url>/v1/api`."""
        return f"{self.base_url}/v1/api"

    def start(self) -> SimulatorServer:
        """Bind, then serve from a daemon thread; returns self."""
        tls_context = None
        if self.use_tls:
            tls_context, self.certificate_pem = server_tls_context()
        app = create_app(self.state, certificate_pem=self.certificate_pem, ips=self.ips)
        listener = bind_listening_socket(self.host, self.requested_port)
        try:
            self._server = _GatewayHTTPServer(
                self.host, listener.getsockname()[1], app, handler=_GatewayRequestHandler,
                fd=listener.fileno(), tls_context=tls_context)
        finally:
            listener.close()  # the server holds its own duplicate of the descriptor
        self._last_port = self.port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"gateway-sim-{self.port}", daemon=True)
        self._thread.start()
        self.state.restart_price_ticker()
        _log.info("Server listening on port %s", self.port)
        return self

    def restart(self) -> SimulatorServer:
        """Serve again on the port of the last start, with the same book and session: a
        gateway that was down for a while (after `stop()`) and came back."""
        if self._last_port is None:
            raise RuntimeError("the simulator was never started")
        self.stop()
        self.requested_port = self._last_port
        return self.start()

    def serve_until_stopped(self, stop: threading.Event) -> None:
        """Block until `stop` is set (the CLI's main loop), then stop."""
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        self.state.stop_price_ticker()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
