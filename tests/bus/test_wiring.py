"""The wiring table: only catalogue events, every receiver connected at start-up, idempotently."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from elizabus.bus import dispatch, wiring
from elizabus.bus.events import EVENT_TYPES, BusEvent, ChannelDeleted


def test_the_table_wires_catalogue_events_only() -> None:
    assert set(wiring.RECEIVERS) <= set(EVENT_TYPES.values())
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
