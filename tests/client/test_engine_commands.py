"""One owner of engine state: commands from other threads run on the engine's thread.

A stress test pairs, syncs, unpairs and quits from several threads at once against the running
engine (simulator + real server); every pairing runs on the engine's thread, every caller gets
an answer, nobody waits forever, and a stopped engine refuses further commands."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.client.engine_kit import new_user, serve_book
from tests.support.waiting import wait_until
from veracity_connector.credentials import FileStore
from veracity_connector.engine import Engine, pairing_changes
from veracity_connector.settings import Settings
from veracity_connector.state import PairingOutcome

BOOK = [{"account_id": "U1", "base_currency": "USD", "cash": {"USD": 1000},
         "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10.5, "quantity": 3}],
         "orders": []}]
PAIRING_THREADS = 3
PAIRINGS_EACH = 2
SYNC_THREADS = 3


# The stress test holds one token per pairing at once: more than a user may hold by default.
SERVER_ENV = {"VERACITY_PAIRING_TOKENS_PER_USER": "20"}


@pytest.fixture
def engine(simulator, server, folders) -> Engine:
    serve_book(simulator, BOOK)
    settings = Settings(veracity_url=server.base_url, gateway_url=simulator.base_url,
                        key_store="file", rate_limit_backoff_s=1)
    return Engine(settings, folders, credentials=FileStore(folders.data_dir / "connector-key"))


@pytest.fixture
def pairing_threads(monkeypatch) -> list[str]:
    """The name of the thread each pairing ran on (the real pairing runs)."""
    seen: list[str] = []
    real = pairing_changes.pair_with_token

    def recording(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(pairing_changes, "pair_with_token", recording)
    return seen


def test_pair_sync_unpair_and_quit_from_many_threads(engine, server, pairing_threads):
    email = new_user(server, "commands")
    tokens = [server.issue_token(email) for _ in range(PAIRING_THREADS * PAIRINGS_EACH)]
    engine.start()
    wait_until(lambda: engine.status.gateway_state is not None, 30, "the engine's first step")
    start_together = threading.Barrier(PAIRING_THREADS + SYNC_THREADS + 1)

    def pair_some(number: int) -> list[PairingOutcome]:
        start_together.wait()
        outcomes = []
        for token in tokens[number::PAIRING_THREADS]:
            outcomes.append(engine.pair(token))
            engine.unpair()
        return outcomes

    def sync_often() -> int:
        start_together.wait()
        for _ in range(20):
            engine.sync_now()
        return 20

    def read_status() -> int:
        start_together.wait()
        return sum(1 for _ in range(200) if engine.status.state is not None)

    with ThreadPoolExecutor(PAIRING_THREADS + SYNC_THREADS + 1) as pool:
        pairings = [pool.submit(pair_some, number) for number in range(PAIRING_THREADS)]
        syncs = [pool.submit(sync_often) for _ in range(SYNC_THREADS)]
        reads = pool.submit(read_status)
        outcomes = [outcome for future in pairings for outcome in future.result(timeout=180)]
        assert all(future.result(timeout=60) == 20 for future in syncs)
        assert reads.result(timeout=60) == 200
    assert len(outcomes) == len(tokens)
    assert all(outcome.ok for outcome in outcomes), [o.message for o in outcomes]
    assert pairing_threads and set(pairing_threads) == {"connector-engine"}

    # Quit while other threads still post: each caller gets an answer, none waits forever.
    late_token = server.issue_token(email)
    with ThreadPoolExecutor(4) as pool:
        late = [pool.submit(engine.pair, late_token), pool.submit(engine.sync_now),
                pool.submit(engine.unpair)]
        stopper = pool.submit(engine.stop)
        stopper.result(timeout=60)
        for future in late:
            future.result(timeout=60)
    assert set(pairing_threads) == {"connector-engine"}
    after = engine.pair(server.issue_token(email))
    assert (after.ok, after.code) == (False, "not_running")


def test_without_a_running_loop_commands_run_in_the_callers_thread(engine, server,
                                                                   pairing_threads):
    """Tests and `sync --once` drive the engine from one thread: nothing to hand over."""
    email = new_user(server, "commands")
    assert engine.pair(server.issue_token(email)).ok
    assert pairing_threads == [threading.current_thread().name]
    engine.gateway.close()
