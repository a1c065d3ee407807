"""The production shape, for real: nginx → 2 gunicorn instances → PostgreSQL + Redis, on loopback.

Started from the same template docker-compose.yml renders (tests/support/topology.py), then:
- rate limits are shared by every worker of both instances (Redis) and keyed on the real
  client address behind nginx (ProxyFix trusting one proxy), whatever X-Forwarded-For says;
- simulated connectors (benchmarks/topology.py in a short form, the real connector's client)
  run while one gunicorn instance is SIGKILLed and later PostgreSQL is restarted; afterwards
  no acknowledged snapshot is missing or stored twice, every outbox is delivered, and nginx
  answered no 5xx but 502/503 (none before the faults);
- 50 slowloris clients hold connections to nginx open while the connectors still get answers.
Figures (recovery times, latencies) are printed, not asserted.
"""

from __future__ import annotations

import collections
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from benchmarks.topology import (
    LoadRun,
    create_user_with_cli,
    pair_connectors,
    percentile,
    read_access_log,
    tally,
)
from tests.support.topology import ProductionTopology, production_topology
from tests.support.waiting import wait_until

CONNECTORS = 200
CYCLE_S = 6.0  # each connector: a heartbeat and a snapshot every 6 s (~67 requests/s)
SLOW_CLIENTS = 50
LOGIN_LIMIT = 10
RECOVERY_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionTopology]:
    folder = tmp_path_factory.mktemp("production-topology")
    with production_topology(folder, env={
            "VERACITY_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
            "VERACITY_EXCHANGE_RATE_LIMIT": "10000 per minute"}) as running:
        create_user_with_cli(running.database_url, running.instance_env)
        yield running


@pytest.fixture
def trust_topology(topology: ProductionTopology, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients verify nginx's certificate as the real connector trusts a private CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topology.certificate))


def _tls_context(topology: ProductionTopology) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(topology.certificate))


def _login_from(topology: ProductionTopology, source_address: str,
                forwarded_for: str) -> http.client.HTTPResponse:
    """A wrong-password login from `source_address` (another loopback address) via nginx."""
    port = int(topology.nginx_url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                             context=_tls_context(topology),
                                             source_address=(source_address, 0))
    body = json.dumps({"email": "nobody@example.com", "password": "wrong-password-1234"})
    connection.request("POST", "/api/v1/session", body=body, headers={
        "Content-Type": "application/json", "X-Forwarded-For": forwarded_for})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_login_limit_is_shared_by_both_instances_and_keyed_on_the_real_client(
        topology: ProductionTopology) -> None:
    # 2 instances x 3 workers: with per-process memory limits many more would pass.
    statuses = [_login_from(topology, "127.0.0.2", f"10.0.0.{attempt}").status
                for attempt in range(LOGIN_LIMIT + 1)]
    assert statuses == [401] * LOGIN_LIMIT + [429]
    # Another client is not limited: the key is the address nginx saw, not nginx's own.
    assert _login_from(topology, "127.0.0.3", "127.0.0.2").status == 401
    answered_by = {line.upstream for line in read_access_log(topology.access_log)
                   if line.uri == "/api/v1/session"}
    assert answered_by == {topology.upstream(0), topology.upstream(1)}


def test_nginx_answers_in_the_contract_shape_with_hsts(topology: ProductionTopology) -> None:
    port = int(topology.nginx_url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                             context=_tls_context(topology))
    limit = int(topology.instance_env.get("VERACITY_MAX_CONTENT_LENGTH", 5 * 1024 * 1024))
    connection.putrequest("POST", "/api/v1/connector/snapshots")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(limit + 1))
    connection.endheaders()  # nginx refuses on the header alone; gunicorn never sees it
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "payload_too_large"
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")
    connection.close()

    # Headers beyond nginx's buffers: nginx's own refusal, in the contract's shape as well.
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                             context=_tls_context(topology))
    connection.request("GET", "/api/v1/session", headers={"X-Padding": "x" * 40_000})
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["error"]["code"] == "bad_request"
    connection.close()


class SlowClients:
    """Slowloris: TLS connections to nginx that send a header line now and then, never ending.

    A connection nginx closes (client_header_timeout) is opened again at once, so `open`
    stays near `count`; `dropped` counts nginx's closes.
    """

    def __init__(self, topology: ProductionTopology, count: int) -> None:
        self.port = int(topology.nginx_url.rsplit(":", 1)[1])
        self.context = _tls_context(topology)
        self.count = count
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.open = 0
        self.dropped = 0
        self.threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(count)]

    def _change(self, opened: int = 0, dropped: int = 0) -> None:
        with self.lock:
            self.open += opened
            self.dropped += dropped

    def _hold(self) -> None:
        while not self.stop.is_set():
            try:
                raw = socket.create_connection(("127.0.0.1", self.port), timeout=15)
                with self.context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                    sock.sendall(b"POST /api/v1/connector/snapshots HTTP/1.1\r\n"
                                 b"Host: 127.0.0.1\r\n")
                    self._change(opened=1)
                    try:
                        while not self.stop.wait(1.0):
                            sock.sendall(b"X-Slow: a\r\n")
                    finally:
                        self._change(opened=-1)
            except OSError:
                self._change(dropped=1)

    def __enter__(self) -> SlowClients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(20)


def _acknowledged_more(run: LoadRun, than: int, what: str) -> int:
    return wait_until(lambda: run.acknowledged() > than and run.acknowledged(),
                      RECOVERY_TIMEOUT_S, f"connectors to get snapshots acknowledged {what}",
                      interval_s=0.2)


def _answered_by(topology: ProductionTopology, upstream: str, since: float) -> bool:
    return any(line.upstream == upstream and line.status < 300 and line.at >= since
               for line in read_access_log(topology.access_log))


@pytest.mark.slow
def test_connectors_survive_a_killed_instance_a_database_restart_and_slow_clients(
        topology: ProductionTopology, trust_topology: None) -> None:
    keys = pair_connectors(topology.nginx_url, CONNECTORS)
    figures: dict[str, float] = {}
    run = LoadRun.start(topology.nginx_url, keys, CYCLE_S)
    try:
        # Warm-up: every connector's first snapshot arrives.
        _acknowledged_more(run, CONNECTORS, "before any fault")
        faults_began = time.time()

        # One instance killed outright, workers and all: nginx sends the rest to the other.
        topology.kill_instance(0)
        killed_at = time.monotonic()
        _acknowledged_more(run, run.acknowledged() + CONNECTORS, "with one instance dead")
        restarted = time.time()
        topology.instances[0].start()
        wait_until(lambda: _answered_by(topology, topology.upstream(0), restarted),
                   RECOVERY_TIMEOUT_S, "nginx to use the restarted instance again")
        figures["instance back in rotation after restart (s)"] = time.time() - restarted
        figures["instance outage (s)"] = time.monotonic() - killed_at

        # PostgreSQL restarted under load: 503 database_unavailable meanwhile, then back.
        before = run.acknowledged()
        stopped = time.monotonic()
        topology.restart_postgres()
        back = time.monotonic()
        _acknowledged_more(run, before, "after PostgreSQL restarted")
        figures["database down (s)"] = back - stopped
        figures["snapshots flowing after database back (s)"] = time.monotonic() - back

        # 50 slow clients hold nginx connections; connectors still get answers.
        with SlowClients(topology, SLOW_CLIENTS) as slow:
            wait_until(lambda: slow.open >= SLOW_CLIENTS, 60, "slow clients to be connected")
            _acknowledged_more(run, run.acknowledged() + CONNECTORS, "beside slow clients")
            open_meanwhile = slow.open
    finally:
        run.stop()
    left = run.drain()

    lines = read_access_log(topology.access_log)
    counted = tally(run, topology.postgres.dsn(topology.database_url.rsplit("/", 1)[-1]))
    statuses = collections.Counter(line.status for line in lines)
    latencies = run.latencies_ms()
    print(f"\nproduction topology: {dict(statuses)}; {counted}; failures after the client's "
          f"retries: {dict(run.failures())}; p50/p99 ms {percentile(latencies, 0.5):.0f}/"
          f"{percentile(latencies, 0.99):.0f}; "
          + ", ".join(f"{name} {value:.1f}" for name, value in figures.items()))

    assert left == 0, "every outbox was delivered once the faults were over"
    assert counted.acknowledged >= 3 * CONNECTORS
    assert counted.lost == 0
    assert counted.duplicated == 0
    assert {status for status in statuses if status >= 500} <= {502, 503}
    assert not [line for line in lines if line.status >= 500 and line.at < faults_began]
    assert open_meanwhile >= SLOW_CLIENTS - 5  # held open while the connectors were served
