"""The event catalogue: names, signals, the transport form (``to_dict``/``from_dict``) and the wire
form (``payload``, docs/bus.md, "The events") of every event type. No database."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from elizabus.bus.events import (
    EVENT_TYPES,
    AgentUpdated,
    BusEvent,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageComplete,
    MessageDeleted,
    MessageError,
    MessageUpdated,
    NewMessage,
    ParticipantUpdate,
    ServerAgentUpdate,
)

CHANNEL = "6f0c2a52-3b8e-4a51-9c1e-0f8d5a2b7c11"
SERVER = "00000000-0000-0000-0000-000000000000"
AUTHOR = "2d9b4c1a-7e6f-4b3a-8c5d-1a2b3c4d5e6f"
AGENT = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
MESSAGE = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"

MESSAGE_FIELDS: dict[str, Any] = {
    "id": MESSAGE,
    "channel_id": CHANNEL,
    "message_server_id": SERVER,
    "author_id": AUTHOR,
    "content": "Men are all alike.",
    "created_at": 1_733_000_000_123,
    "author_display_name": "Alice",
    "raw_message": {"text": "Men are all alike.", "thought": None},
    "source_id": "src-1",
    "source_type": "eliza_gui",
    "in_reply_to_message_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    "metadata": {"attachments": [], "nested": {"hops": 1}},
    "seq": 42,
}

# One example of every event type, and its wire form.
EXAMPLES: dict[type[BusEvent], tuple[BusEvent, dict[str, Any]]] = {
    NewMessage: (NewMessage(**MESSAGE_FIELDS), MESSAGE_FIELDS),
    MessageUpdated: (MessageUpdated(**MESSAGE_FIELDS), MESSAGE_FIELDS),
    MessageDeleted: (
        MessageDeleted(message_id=MESSAGE, channel_id=CHANNEL, seq=7),
        {"messageId": MESSAGE, "channelId": CHANNEL, "seq": 7},
    ),
    ChannelCleared: (
        ChannelCleared(channel_id=CHANNEL, message_count=7, channel_deleted=True),
        {"channelId": CHANNEL, "messageCount": 7},
    ),
    ChannelUpdated: (
        ChannelUpdated(channel_id=CHANNEL, updates={"name": "renamed"}),
        {"channelId": CHANNEL, "updates": {"name": "renamed"}},
    ),
    ChannelDeleted: (ChannelDeleted(channel_id=CHANNEL), {"channelId": CHANNEL}),
    ParticipantUpdate: (
        ParticipantUpdate(type="added", channel_id=CHANNEL, entity_id=AUTHOR),
        {"type": "added", "channelId": CHANNEL, "entityId": AUTHOR},
    ),
    ServerAgentUpdate: (
        ServerAgentUpdate(type="agent_added_to_server", message_server_id=SERVER, agent_id=AGENT),
        {"type": "agent_added_to_server", "messageServerId": SERVER, "agentId": AGENT},
    ),
    MessageComplete: (
        MessageComplete(
            channel_id=CHANNEL, message_server_id=SERVER, agent_id=AGENT, message_id=MESSAGE
        ),
        {
            "channelId": CHANNEL,
            "serverId": SERVER,
            "messageServerId": SERVER,
            "agentId": AGENT,
            "messageId": MESSAGE,
        },
    ),
    MessageError: (
        MessageError(message_id=MESSAGE, channel_id=CHANNEL, agent_id=AGENT, error="timed out"),
        {"messageId": MESSAGE, "channelId": CHANNEL, "agentId": AGENT, "error": "timed out"},
    ),
    AgentUpdated: (
        AgentUpdated(type="registered", agent_id=AGENT),
        {"type": "registered", "agentId": AGENT},
    ),
}

ALL_TYPES = list(EVENT_TYPES.values())


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(ALL_TYPES)


def test_the_catalogue_is_keyed_by_wire_name() -> None:
    assert all(name == event_type.name for name, event_type in EVENT_TYPES.items())
    assert {"new_message", "message_deleted", "channel_cleared", "server_agent_update"} <= set(
        EVENT_TYPES
    )
    assert EVENT_TYPES["message:error"] is MessageError


def test_each_event_type_has_its_own_signal() -> None:
    # MessageUpdated subclasses NewMessage: sharing the signal would make agents answer edits.
    signals = [event_type.signal for event_type in ALL_TYPES]
    assert len({id(signal) for signal in signals}) == len(signals)


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_each_event_type_documents_when_it_fires_and_who_consumes_it(
    event_type: type[BusEvent],
) -> None:
    doc = event_type.__doc__ or ""
    assert doc.startswith(f"``{event_type.name}``")
    assert "Consumers" in doc or "consumes" in doc


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_to_dict_and_from_dict_round_trip(event_type: type[BusEvent]) -> None:
    event, _ = EXAMPLES[event_type]
    data = event.to_dict()
    restored = event_type.from_dict(json.loads(json.dumps(data)))
    assert restored == event
    assert type(restored) is event_type


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_from_dict_ignores_keys_it_does_not_know(event_type: type[BusEvent]) -> None:
    event, _ = EXAMPLES[event_type]
    assert event_type.from_dict({**event.to_dict(), "addedInAFutureVersion": 1}) == event


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_payload_uses_the_wire_names(event_type: type[BusEvent]) -> None:
    event, wire = EXAMPLES[event_type]
    assert event.payload() == wire
    json.dumps(event.payload())  # it crosses sockets and processes as JSON


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_events_are_frozen(event_type: type[BusEvent]) -> None:
    event, _ = EXAMPLES[event_type]
    first_field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, first_field, "changed")


def test_new_message_defaults_are_the_optional_fields_of_message_service_structure() -> None:
    event = NewMessage(
        id=MESSAGE,
        channel_id=CHANNEL,
        message_server_id=SERVER,
        author_id=AUTHOR,
        content="hi",
        created_at=1,
    )
    assert event.payload() == {
        "id": MESSAGE,
        "channel_id": CHANNEL,
        "message_server_id": SERVER,
        "author_id": AUTHOR,
        "content": "hi",
        "created_at": 1,
        "author_display_name": "",
        "raw_message": None,
        "source_id": "",
        "source_type": "",
        "in_reply_to_message_id": None,
        "metadata": {},
        "seq": 0,  # an event from before messages had a seq
    }


def test_a_deletion_without_a_seq_keeps_the_references_payload() -> None:
    deleted = MessageDeleted(message_id=MESSAGE, channel_id=CHANNEL)
    assert deleted.payload() == {"messageId": MESSAGE, "channelId": CHANNEL}


def test_an_updated_message_is_not_a_new_message() -> None:
    assert MessageUpdated(**MESSAGE_FIELDS) != NewMessage(**MESSAGE_FIELDS)


def test_channel_cleared_keeps_channel_deleted_off_the_wire() -> None:
    cleared = ChannelCleared(channel_id=CHANNEL, message_count=3, channel_deleted=True)
    assert "channelDeleted" not in cleared.payload()
    assert ChannelCleared.from_dict(cleared.to_dict()).channel_deleted is True
