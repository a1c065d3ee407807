"""The observable connector status: immutable snapshots, thread-safe notifications."""

from __future__ import annotations

import threading
from typing import get_args

from veracity_connector.state import (
    DEFAULT_MESSAGES,
    ConnectorState,
    ConnectorStatus,
    GatewayState,
    StatusHolder,
)
from veracity_contract.pairing import GatewayState as ContractGatewayState


def test_gateway_states_are_the_contracts():
    assert {state.value for state in GatewayState} == set(get_args(ContractGatewayState))


def test_every_state_has_a_message_and_a_next_step():
    for state in ConnectorState:
        message, next_step = DEFAULT_MESSAGES[state]
        assert message and next_step


def test_set_state_uses_the_states_default_wording_unless_given():
    holder = StatusHolder()
    status = holder.set_state(ConnectorState.GATEWAY_UNAUTHENTICATED)
    assert status.message == DEFAULT_MESSAGES[ConnectorState.GATEWAY_UNAUTHENTICATED][0]
    status = holder.set_state(ConnectorState.ERROR, "Settings file is broken")
    assert status.message == "Settings file is broken"
    assert status.next_step == DEFAULT_MESSAGES[ConnectorState.ERROR][1]


def test_subscribers_see_each_change_once_and_can_unsubscribe():
    holder = StatusHolder()
    seen: list[ConnectorStatus] = []
    unsubscribe = holder.subscribe(seen.append)
    holder.set_state(ConnectorState.PAIRING)
    holder.set_state(ConnectorState.PAIRING)  # no change: no notification
    holder.update(gateway_state=GatewayState.OK)
    unsubscribe()
    holder.set_state(ConnectorState.SYNCING)
    assert [s.state for s in seen] == [ConnectorState.PAIRING, ConnectorState.PAIRING]
    assert seen[-1].gateway_state is GatewayState.OK


def test_a_failing_subscriber_does_not_stop_the_others():
    holder = StatusHolder()
    seen = []

    def broken(_status):
        raise RuntimeError("tray crashed")

    holder.subscribe(broken)
    holder.subscribe(seen.append)
    holder.set_state(ConnectorState.SYNCING)
    assert seen and seen[0].state is ConnectorState.SYNCING


def test_a_subscriber_may_read_and_publish_from_its_callback():
    holder = StatusHolder()

    def bounce(status):
        if status.state is ConnectorState.REVOKED:
            holder.set_state(ConnectorState.NEEDS_TOKEN, paired=False)

    holder.subscribe(bounce)
    holder.set_state(ConnectorState.REVOKED)
    assert holder.status.state is ConnectorState.NEEDS_TOKEN


def test_wait_for_returns_when_another_thread_publishes():
    holder = StatusHolder()
    started = threading.Event()

    def later():
        started.wait()
        holder.set_state(ConnectorState.SYNCING)

    worker = threading.Thread(target=later)
    worker.start()
    started.set()
    status = holder.wait_for(lambda s: s.state is ConnectorState.SYNCING, timeout_s=10)
    worker.join()
    assert status is not None and status.state is ConnectorState.SYNCING
    assert holder.wait_for(lambda s: s.state is ConnectorState.ERROR, timeout_s=0.01) is None


def test_status_as_dict_is_json_friendly():
    status = ConnectorStatus().with_state(ConnectorState.SYNCING, gateway_state=GatewayState.OK,
                                          gateway_port=5000, paired=True)
    data = status.as_dict()
    assert data["state"] == "syncing"
    assert data["gateway_state"] == "ok"
    assert data["paired"] is True
    assert "extra" not in data
