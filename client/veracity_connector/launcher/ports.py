"""Who is listening on the gateway's port: nobody, an IBKR gateway, or something else."""

from __future__ import annotations

import enum
import http.client
import json
import socket
import ssl
import sys

# The gateway binds every interface; a program on 127.0.0.1 alone blocks it just the same.
_BIND_ADDRESSES = ("127.0.0.1", "0.0.0.0")  # noqa: S104 (probing, never serving)


class PortOccupant(enum.Enum):
    """What answers on a port."""

    FREE = "free"
    GATEWAY = "gateway"  # something that answers like IBKR's Client Portal Gateway
    OTHER = "other"  # e.g. macOS AirPlay Receiver or a dev server on 5000


def _can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":
            # Ignore TIME_WAIT leftovers of a gateway we just stopped. (On Windows the same
            # option would let us bind over a live listener, so it is POSIX only.)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def port_is_free(port: int) -> bool:
    """True when a new listener could bind `port` on loopback and on every interface."""
    return all(_can_bind(address, port) for address in _BIND_ADDRESSES)


def find_free_port(avoid: set[int] | None = None) -> int:
    """A port that is free right now, chosen by the OS (and not one of `avoid`)."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in (avoid or set()) and port_is_free(port):
            return port
    raise OSError("no free TCP port found")


def _unverified_tls() -> ssl.SSLContext:
    # Loopback only, and only to see who answers: the gateway's certificate is self-signed.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _looks_like_gateway(status: int, body: bytes) -> bool:
    """The gateway's /tickle answers: a session document, or its 'no session' errors."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    if "session" in document or "iserver" in document:
        return True
    # The gateway's own error shape, e.g. 401 not authenticated or 429 while it paces us.
    return "error" in document and document.get("statusCode") == status


class _Answer(enum.Enum):
    GATEWAY = "gateway"
    SOMETHING_ELSE = "something else"
    SILENCE = "silence"  # accepted the connection but said nothing before the timeout


def _probe(port: int, use_tls: bool, timeout_s: float) -> _Answer:
    connection: http.client.HTTPConnection
    if use_tls:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout_s,
                                                 context=_unverified_tls())
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        # /tickle: the one call every gateway client makes; a single probe stays far below
        # IBKR's pacing (1/s on tickle), and it only runs when the person starts the gateway.
        connection.request("GET", "/v1/api/tickle", headers={"User-Agent": "ibkr-connector"})
        response = connection.getresponse()
        if _looks_like_gateway(response.status, response.read(64 * 1024)):
            return _Answer.GATEWAY
        return _Answer.SOMETHING_ELSE
    except TimeoutError:
        return _Answer.SILENCE
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return _Answer.SOMETHING_ELSE
    finally:
        connection.close()


def identify_port_occupant(port: int, use_tls: bool = True,
                           timeout_s: float = 3.0) -> PortOccupant:
    """FREE, GATEWAY (it answers /v1/api/tickle like the gateway) or OTHER."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout_s)
        listening = probe.connect_ex(("127.0.0.1", port)) == 0
    if not listening:
        return PortOccupant.FREE if port_is_free(port) else PortOccupant.OTHER
    for tls in (use_tls, not use_tls):
        answer = _probe(port, tls, timeout_s)
        if answer is _Answer.GATEWAY:
            return PortOccupant.GATEWAY
        if answer is _Answer.SILENCE:
            break  # a listener that never answers will not answer the other protocol either
    return PortOccupant.OTHER
