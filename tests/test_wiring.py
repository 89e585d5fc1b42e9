"""The wiring table: only catalogue events, every receiver connected at start-up, idempotently."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from elizabus import wiring
from elizabus.agents.runtime import agent_runtime
from elizabus.bus import dispatch
from elizabus.bus.events import EPHEMERAL_EVENT_TYPES, EVENT_TYPES, BusEvent, ChannelDeleted
from elizabus.realtime import broadcast


def test_the_table_wires_catalogue_events_only() -> None:
    catalogue = {*EVENT_TYPES.values(), *EPHEMERAL_EVENT_TYPES.values()}
    assert set(wiring.RECEIVERS) <= catalogue
    assert all(
        callable(receiver) for receivers in wiring.RECEIVERS.values() for receiver in receivers
    )


def test_the_table_was_connected_at_start_up_and_connecting_again_adds_nothing() -> None:
    counts = {event_type: dispatch.receiver_count(event_type) for event_type in wiring.RECEIVERS}
    for event_type, receivers in wiring.RECEIVERS.items():
        assert counts[event_type] >= len(receivers)
    wiring.connect()
    assert {event_type: dispatch.receiver_count(event_type) for event_type in counts} == counts


def test_connect_wires_every_row_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[BusEvent] = []

    def on_deleted(sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
        received.append(event)

    monkeypatch.setattr(wiring, "RECEIVERS", {ChannelDeleted: [on_deleted]})
    uid = f"wiring:channel_deleted:{dispatch.receiver_name(on_deleted)}"
    wiring.connect()
    wiring.connect()
    try:
        event = ChannelDeleted(channel_id=str(uuid.uuid4()))
        dispatch.dispatch_local(event)
    finally:
        assert dispatch.disconnect(ChannelDeleted, dispatch_uid=uid)
    assert received == [event]


@pytest.mark.parametrize(
    ("backend", "scope"),
    [
        ("channels.layers.InMemoryChannelLayer", dispatch.EACH),
        ("channels_redis.core.RedisChannelLayer", dispatch.ONCE),
    ],
)
def test_broadcasts_run_once_per_event_only_through_a_shared_layer(
    settings: Any, backend: str, scope: dispatch.Scope
) -> None:
    """Through Redis the layer reaches every process's sockets, so one process sends; with the
    in-memory layer each process sends to its own."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend}}
    assert wiring.scope_of(broadcast.on_new_message) is scope
    assert wiring.scope_of(agent_runtime.on_agent_update) is dispatch.EACH


def test_stream_events_reach_every_process_s_own_sockets() -> None:
    """Ephemeral events are dispatched to EACH receivers only, so theirs must run there."""
    for event_type in EPHEMERAL_EVENT_TYPES.values():
        for receiver in wiring.RECEIVERS[event_type]:
            assert wiring.scope_of(receiver) is dispatch.EACH
