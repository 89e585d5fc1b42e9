"""The bus receivers of the real-time layer: wiring, group names and the broadcast payload."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.layers import get_channel_layer

from elizabus import wiring
from elizabus.bus import events
from elizabus.realtime import broadcast


def test_every_client_visible_event_is_wired_to_its_receiver():
    expected = {
        events.NewMessage: broadcast.on_new_message,
        events.MessageUpdated: broadcast.on_message_updated,
        events.MessageDeleted: broadcast.on_message_deleted,
        events.ChannelCleared: broadcast.on_channel_cleared,
        events.ChannelUpdated: broadcast.on_channel_updated,
        events.ChannelDeleted: broadcast.on_channel_deleted,
        events.MessageComplete: broadcast.on_message_complete,
        events.MessageError: broadcast.on_message_error,
        events.MessageStreamChunk: broadcast.on_message_stream_chunk,
        events.MessageStreamError: broadcast.on_message_stream_error,
    }
    for event_type, receiver in expected.items():
        assert receiver in wiring.RECEIVERS.get(event_type, []), event_type.name


def test_one_group_per_channel():
    assert broadcast.channel_group("abc") == broadcast.channel_group("abc")
    assert broadcast.channel_group("abc") != broadcast.channel_group("abd")


def test_message_broadcast_carries_both_spellings_and_agent_extras():
    event = events.NewMessage(
        id="m1",
        channel_id="c1",
        message_server_id="s1",
        author_id="a1",
        author_display_name="Eliza",
        content="How do you do?",
        created_at=1700000000000,
        raw_message={"thought": "greet", "actions": ["REPLY"]},
        source_type="agent_response",
        metadata={"attachments": [{"url": "u"}]},
    )
    payload = broadcast.message_broadcast(event)
    assert payload["channelId"] == payload["roomId"] == "c1"
    assert payload["serverId"] == payload["messageServerId"] == "s1"
    assert (payload["senderId"], payload["senderName"], payload["text"]) == (
        "a1",
        "Eliza",
        "How do you do?",
    )
    assert payload["createdAt"] == 1700000000000 and payload["source"] == "agent_response"
    assert payload["attachments"] == [{"url": "u"}]
    assert (payload["thought"], payload["actions"]) == ("greet", ["REPLY"])
    assert "metadata" not in payload


def test_group_messages_carry_the_encoded_packet():
    message = broadcast.group_message(
        "messageDeleted", {"messageId": "m1"}, channel_id="c1", message_id="m1", origin="sid"
    )
    assert message["type"] == broadcast.SOCKET_EMIT
    assert json.loads(message["frame"][1:]) == ["messageDeleted", {"messageId": "m1"}]
    assert (message["channel"], message["message_id"], message["origin"]) == ("c1", "m1", "sid")


@pytest.mark.redis
async def test_a_group_send_to_a_hung_redis_gives_up_after_a_second(
    hung_redis: str, settings
) -> None:
    # Broadcasts wait in one queue per process: one send that hung for the layer's 15 s read
    # held every broadcast behind it.
    from project.settings import redis_channel_layer

    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(hung_redis)}
    message = broadcast.group_message("messageBroadcast", {"text": "hi"}, channel_id="c1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(TimeoutError):
            await broadcast.group_send(broadcast.channel_group("c1"), message)
    finally:
        await get_channel_layer().close_pools()

    assert loop.time() - started < 1.5
