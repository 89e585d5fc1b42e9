"""The elizaOS socket router over WebSocket clients: auth, join, send, pushes, resume, limits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from elizabus import services
from elizabus.bus.events import MessageError, MessageStreamChunk, MessageStreamError
from elizabus.bus.publish import publish, publish_ephemeral
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Entity, Message
from elizabus.realtime import router as router_module
from elizabus.realtime.broadcast import group_message
from elizabus.realtime.router import (
    JOIN_DENIED,
    JOIN_REQUIRED,
    SEND_DENIED,
    SEND_REQUIRED,
    SENDER_MISMATCH,
)

from .helpers import SioClient

pytestmark = pytest.mark.django_db(transaction=True)

CENTRAL = str(CENTRAL_CHANNEL_ID)
CENTRAL_SERVER = str(DEFAULT_SERVER_ID)


@database_sync_to_async
def make_channel(*participants: uuid.UUID) -> tuple[str, str]:
    server = services.server_create(name="Test server", source_type="test")
    channel = services.channel_create(
        server_id=server.id, name="Test room", participant_ids=participants
    )
    return str(channel.id), str(server.id)


@database_sync_to_async
def post_message(channel_id: str, author_id: uuid.UUID, text: str) -> str:
    return str(
        services.message_create(
            channel_id=uuid.UUID(channel_id), author_id=author_id, content=text
        ).id
    )


async def joined(client: SioClient, channel_id: str, **extra: Any) -> None:
    await client.emit("message", {"type": 1, "payload": {"channelId": channel_id, **extra}})
    assert (await client.expect("channel_joined"))["channelId"] == channel_id
    await client.expect("room_joined")


def send_payload(sender: uuid.UUID, channel_id: str, server_id: str, **extra: Any) -> dict:
    return {
        "senderId": str(sender),
        "senderName": "Alice",
        "message": "hello there",
        "channelId": channel_id,
        "roomId": channel_id,
        "serverId": server_id,
        "messageId": "client-1",
        "source": "client_chat",
        **extra,
    }


# --- connect ----------------------------------------------------------------------------------


async def test_connect_records_no_entity_and_a_send_does(sio):
    """A socket may declare any entity id: a connect that left a row behind let a loop of
    random ids grow the database without end. The entity is stored with what it sends."""
    entity_id = uuid.uuid4()
    client = await sio(entity_id)
    assert not await database_sync_to_async(Entity.objects.filter(id=entity_id).exists)()
    await client.emit("2", send_payload(entity_id, CENTRAL, CENTRAL_SERVER))
    await client.expect("messageBroadcast")
    assert await database_sync_to_async(Entity.objects.filter(id=entity_id).exists)()


async def test_sockets_per_client_address_are_limited_whatever_their_entities(
    application, settings
):
    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_MAX_CONNECTIONS_PER_CLIENT": 2}
    held = []
    for _ in range(2):
        client = SioClient(application, client="198.51.100.7")
        assert await client.connect({"entityId": str(uuid.uuid4())}) == "ok"
        held.append(client)
    extra = SioClient(application, client="198.51.100.7")
    answer = await extra.connect({"entityId": str(uuid.uuid4())})
    assert answer == "Too many connections from this address"
    await extra.close()
    elsewhere = SioClient(application, client="198.51.100.8")
    assert await elsewhere.connect({"entityId": str(uuid.uuid4())}) == "ok"
    await elsewhere.close()
    # A socket that leaves gives its place back.
    await held.pop().close()
    await asyncio.sleep(0.05)
    again = SioClient(application, client="198.51.100.7")
    assert await again.connect({"entityId": str(uuid.uuid4())}) == "ok"
    for client in (*held, again):
        await client.close()


@pytest.mark.parametrize("entity_id", [None, "", "not-a-uuid", 42, ["x"]])
async def test_connect_needs_a_uuid_entity(application, entity_id):
    client = SioClient(application)
    auth = {} if entity_id is None else {"entityId": entity_id}
    assert await client.connect(auth) == "Valid entityId required"
    await client.close()


async def test_connect_without_auth_payload_is_refused(application):
    client = SioClient(application)
    await client.open()
    await client.ws.send_to(text_data="40")
    assert await client.ws.receive_from() == '44{"message":"Valid entityId required"}'
    await client.close()


async def test_api_key_when_configured(application, settings):
    settings.ELIZA_SERVER_AUTH_TOKEN = "s3cret"
    entity = str(uuid.uuid4())
    for auth, headers, answer in [
        ({"entityId": entity}, [], "Invalid or missing API Key"),
        ({"entityId": entity, "apiKey": "wrong"}, [], "Invalid or missing API Key"),
        ({"entityId": entity, "apiKey": "s3cret"}, [], "ok"),
        ({"entityId": entity}, [(b"x-api-key", b"s3cret")], "ok"),
    ]:
        client = SioClient(application, headers=headers)
        assert await client.connect(auth) == answer
        await client.close()


async def test_connections_per_entity_are_limited(application, settings, sio):
    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_MAX_CONNECTIONS_PER_ENTITY": 1}
    entity = uuid.uuid4()
    first = await sio(entity)
    extra = SioClient(application)
    assert await extra.connect({"entityId": str(entity)}) == "Too many connections for this entity"
    await extra.close()
    await first.close()
    await asyncio.sleep(0.05)
    assert entity not in router_module._entity_sockets
    await sio(entity)


# --- join ---------------------------------------------------------------------------------------


async def test_join_the_central_channel_both_ways(sio):
    client = await sio()
    await client.emit("1", {"channelId": CENTRAL, "agentId": "agent-7"})
    expected = {
        "message": f"Successfully joined channel {CENTRAL}",
        "channelId": CENTRAL,
        "roomId": CENTRAL,
        "agentId": "agent-7",
        # Not the reference's: the channel's newest seq; every later message comes live.
        "lastSeq": 0,
    }
    assert await client.expect("channel_joined") == expected
    assert await client.expect("room_joined") == expected
    await client.emit("message", {"type": 1, "payload": {"roomId": CENTRAL}})
    assert (await client.expect("channel_joined"))["roomId"] == CENTRAL


@pytest.mark.parametrize("payload", [None, {}, {"channelId": ""}, "x"])
async def test_join_needs_a_channel(sio, payload):
    client = await sio()
    await client.emit("1", payload)
    assert await client.expect("messageError") == {"error": JOIN_REQUIRED}


async def test_join_only_channels_the_entity_takes_part_in(sio):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    channel_id, _ = await make_channel(alice)
    intruder = await sio(bob)
    await intruder.emit("1", {"channelId": channel_id})
    assert await intruder.expect("messageError") == {"error": JOIN_DENIED}
    member = await sio(alice)
    await joined(member, channel_id)


# --- send ---------------------------------------------------------------------------------------


async def test_send_stores_broadcasts_and_acknowledges(sio):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    channel_id, server_id = await make_channel(alice, bob)
    sender, other = await sio(alice), await sio(bob)
    await joined(sender, channel_id)
    await joined(other, channel_id)

    await sender.emit("message", {"type": 2, "payload": send_payload(alice, channel_id, server_id)})
    own = await sender.expect("messageBroadcast")
    ack = await sender.expect("messageAck")
    seen = await other.expect("messageBroadcast")

    assert own["clientMessageId"] == "client-1"
    assert {key: value for key, value in own.items() if key != "clientMessageId"} == seen
    assert "clientMessageId" not in seen
    assert seen["text"] == "hello there" and seen["senderId"] == str(alice)
    assert seen["senderName"] == "Alice" and seen["source"] == "client_chat"
    assert seen["channelId"] == seen["roomId"] == channel_id
    assert seen["serverId"] == seen["messageServerId"] == server_id
    assert ack == {
        "clientMessageId": "client-1",
        "messageId": seen["id"],
        "status": "received_by_server_and_processing",
        "channelId": channel_id,
        "roomId": channel_id,
    }
    stored = await database_sync_to_async(Message.objects.get)(id=seen["id"])
    assert stored.source_id == "client-1" and stored.source_type == "client_chat"
    assert stored.metadata["socket_id"] == sender.sid
    # The sender's own copy is its only copy.
    assert await sender.silent()


async def test_send_accepts_message_server_id_and_the_numeric_event(sio):
    alice = uuid.uuid4()
    channel_id, server_id = await make_channel(alice)
    client = await sio(alice)
    payload = send_payload(alice, channel_id, "ignored")
    del payload["serverId"]
    await client.emit("2", {**payload, "messageServerId": server_id})
    assert (await client.expect("messageBroadcast"))["messageServerId"] == server_id
    await client.expect("messageAck")


async def test_send_as_someone_else_is_refused_and_stores_nothing(sio):
    alice, mallory = uuid.uuid4(), uuid.uuid4()
    channel_id, server_id = await make_channel(alice, mallory)
    client = await sio(mallory)
    await client.emit("2", send_payload(alice, channel_id, server_id))
    assert await client.expect("messageError") == {"error": SENDER_MISMATCH}
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_send_only_where_the_entity_may_join(sio):
    """The rule of a join holds for a send: a socket refused the join stores nothing, reaches
    no member, and wakes no agent."""
    alice, mallory = uuid.uuid4(), uuid.uuid4()
    channel_id, server_id = await make_channel(alice)
    member, intruder = await sio(alice), await sio(mallory)
    await joined(member, channel_id)

    await intruder.emit("2", send_payload(mallory, channel_id, server_id))
    assert await intruder.expect("messageError") == {"error": SEND_DENIED}
    await intruder.emit(
        "message", {"type": 2, "payload": send_payload(mallory, channel_id, server_id)}
    )
    assert await intruder.expect("messageError") == {"error": SEND_DENIED}
    assert await member.silent()
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_send_to_a_new_channel_creates_it_with_the_sender_in_it(sio):
    alice = uuid.uuid4()
    channel_id = str(uuid.uuid4())
    client = await sio(alice)
    await client.emit("2", send_payload(alice, channel_id, CENTRAL_SERVER))
    assert (await client.expect("messageBroadcast"))["channelId"] == channel_id
    await client.expect("messageAck")
    await joined(client, channel_id)


async def test_anyone_may_send_to_the_central_channel(sio):
    bob = uuid.uuid4()
    client = await sio(bob)
    await client.emit("2", send_payload(bob, CENTRAL, CENTRAL_SERVER))
    assert (await client.expect("messageBroadcast"))["channelId"] == CENTRAL


@pytest.mark.parametrize(
    "change",
    [
        {"message": ""},
        {"message": None},
        {"message": 42},
        {"channelId": "nope", "roomId": None},
        {"serverId": None},
        {"senderId": "x"},
    ],
)
async def test_send_validation(sio, change):
    alice = uuid.uuid4()
    channel_id, server_id = await make_channel(alice)
    client = await sio(alice)
    await client.emit("2", {**send_payload(alice, channel_id, server_id), **change})
    assert await client.expect("messageError") == {"error": SEND_REQUIRED}


async def test_null_and_oversized_payloads_are_message_errors(sio):
    alice = uuid.uuid4()
    channel_id, server_id = await make_channel(alice)
    client = await sio(alice)
    await client.emit("2", None)
    assert await client.expect("messageError") == {"error": SEND_REQUIRED}
    await client.emit("2", send_payload(alice, channel_id, server_id, message="x" * 70_000))
    assert "exceeds" in (await client.expect("messageError"))["error"]
    huge = {"blob": "y" * 90_000}
    await client.emit("2", send_payload(alice, channel_id, server_id, metadata=huge))
    assert "exceeds" in (await client.expect("messageError"))["error"]
    assert not await database_sync_to_async(Message.objects.exists)()


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"message": "hello \ud800"}, "Unpaired surrogates are not allowed."),
        ({"senderName": "\udfff"}, "Unpaired surrogates are not allowed."),
        ({"message": "hello\x00there"}, "Null characters are not allowed."),
        ({"metadata": {"note": "a\x00b"}}, "Null characters are not allowed."),
        ({"metadata": {"\x00": 1}}, "Null characters are not allowed."),
        ({"metadata": {"deep": deep_list(150)}}, "JSON is nested deeper than 100 levels"),
    ],
    ids=["surrogate", "surrogate-name", "nul", "nul-metadata", "nul-key", "deep"],
)
async def test_text_that_cannot_be_stored_is_refused_as_rest_refuses_it(sio, caplog, change, error):
    alice = uuid.uuid4()
    channel_id, server_id = await make_channel(alice)
    client = await sio(alice)
    await client.emit("2", {**send_payload(alice, channel_id, server_id), **change})
    assert await client.expect("messageError") == {
        "error": f"Error processing your message: {error}"
    }
    assert not await database_sync_to_async(Message.objects.exists)()
    assert not [record for record in caplog.records if record.exc_info]
    # The socket is still served.
    await client.emit("2", send_payload(alice, channel_id, server_id))
    await client.expect("messageBroadcast")


async def test_send_to_another_server_is_an_error_not_a_crash(sio):
    alice = uuid.uuid4()
    channel_id, _ = await make_channel(alice)
    client = await sio(alice)
    await client.emit("2", send_payload(alice, channel_id, str(uuid.uuid4())))
    error = (await client.expect("messageError"))["error"]
    assert error.startswith("Error processing your message: ")
    await client.emit("1", {"channelId": CENTRAL})
    await client.expect("channel_joined")


async def test_unknown_events_types_and_envelopes(sio):
    client = await sio()
    await client.emit("subscribe_everything", {})
    assert await client.expect("messageError") == {"error": "Unknown event: subscribe_everything"}
    await client.emit("message", {"type": 9, "payload": {}})
    assert await client.expect("messageError") == {"error": "Unknown message type: 9"}
    await client.emit("message", {"type": 1})
    assert (await client.expect("messageError"))["error"].startswith("A message event needs")
    await client.emit("message", None)
    assert (await client.expect("messageError"))["error"].startswith("A message event needs")
    await client.ws.send_to(text_data='451-["2",{"_placeholder":true,"num":0}]')
    await client.ws.send_to(bytes_data=b"\x01")
    assert await client.expect("messageError") == {"error": "Binary payloads are not supported"}


async def test_events_per_second_are_limited(sio, settings):
    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_MAX_EVENTS_PER_SECOND": 3}
    client = await sio()
    for _ in range(6):
        await client.emit("1", {"channelId": CENTRAL})
    names = []
    while not await client.silent(0.3):
        names.append((await client.event())[0])
    assert names.count("channel_joined") == 3
    assert names.count("messageError") == 1
    await asyncio.sleep(0.4)
    await client.emit("1", {"channelId": CENTRAL})
    await client.expect("channel_joined")


# --- pushes from the bus --------------------------------------------------------------------------


async def test_messages_stored_elsewhere_reach_every_member(sio):
    alice, agent = uuid.uuid4(), uuid.uuid4()
    channel_id, server_id = await make_channel(alice, agent)
    client = await sio(alice)
    await joined(client, channel_id)
    message_id = await post_message(channel_id, agent, "Hello from REST")
    pushed = await client.expect("messageBroadcast")
    assert pushed["id"] == message_id and pushed["text"] == "Hello from REST"
    assert pushed["channelId"] == pushed["roomId"] == channel_id
    assert pushed["serverId"] == pushed["messageServerId"] == server_id
    assert "clientMessageId" not in pushed


async def test_a_reply_s_stream_reaches_the_channel_s_sockets_then_its_stored_reply(sio):
    alice, bob, agent, outsider = (uuid.uuid4() for _ in range(4))
    channel_id, _ = await make_channel(alice, bob, agent)
    other_channel, _ = await make_channel(outsider, agent)
    clients = [await sio(alice), await sio(bob)]
    for client in clients:
        await joined(client, channel_id)
    stranger = await sio(outsider)
    await joined(stranger, other_channel)
    reply_id = str(uuid.uuid4())

    def stream() -> None:
        # From a thread, as an agent's worker publishes them.
        for index, piece in enumerate(["Hel", "lo"]):
            publish_ephemeral(
                MessageStreamChunk(
                    channel_id=channel_id,
                    message_id=reply_id,
                    agent_id=str(agent),
                    chunk=piece,
                    index=index,
                )
            )
        publish_ephemeral(
            MessageStreamError(
                channel_id=channel_id,
                message_id=reply_id,
                agent_id=str(agent),
                error="Stream cancelled: the agent stopped",
                partial_text="Hello",
            )
        )
        services.message_create(
            channel_id=uuid.UUID(channel_id),
            author_id=agent,
            content="Hello",
            message_id=uuid.UUID(reply_id),
        )

    await asyncio.get_running_loop().run_in_executor(None, stream)
    for client in clients:
        chunks = [await client.expect("messageStreamChunk") for _ in range(2)]
        assert chunks == [
            {
                "channelId": channel_id,
                "messageId": reply_id,
                "chunk": piece,
                "index": index,
                "agentId": str(agent),
            }
            for index, piece in enumerate(["Hel", "lo"])
        ]
        assert await client.expect("messageStreamError") == {
            "channelId": channel_id,
            "messageId": reply_id,
            "agentId": str(agent),
            "error": "Stream cancelled: the agent stopped",
            "partialText": "Hello",
        }
        # The chunks carried the reply's id; its stored broadcast is not taken for a repeat.
        assert (await client.expect("messageBroadcast"))["id"] == reply_id
    assert await stranger.silent()


async def test_sockets_of_other_channels_hear_nothing(sio):
    alice = uuid.uuid4()
    channel_id, _ = await make_channel(alice)
    bystander = await sio()
    await joined(bystander, CENTRAL)
    await post_message(channel_id, alice, "private")
    assert await bystander.silent()


@database_sync_to_async
def run_bus_event(kind: str, channel_id: str, author: uuid.UUID) -> str:
    channel = uuid.UUID(channel_id)
    message_id = services.message_create(channel_id=channel, author_id=author, content="x").id
    if kind == "messageDeleted":
        services.message_delete(channel_id=channel, message_id=message_id)
    elif kind == "channelCleared":
        services.channel_clear(channel_id=channel)
    elif kind == "channelUpdated":
        services.channel_update(channel_id=channel, name="Renamed")
    elif kind == "channelDeleted":
        services.channel_delete(channel_id=channel)
    elif kind == "messageComplete":
        services.message_complete_announce(
            channel_id=channel, server_id=uuid.uuid4(), agent_id=author, message_id=message_id
        )
    else:
        with transaction.atomic():
            publish(
                MessageError(
                    message_id=str(message_id), channel_id=channel_id, agent_id="a", error="boom"
                )
            )
    return str(message_id)


@pytest.mark.parametrize(
    "kind",
    [
        "messageDeleted",
        "channelCleared",
        "channelUpdated",
        "channelDeleted",
        "messageComplete",
        "messageError",
    ],
)
async def test_bus_events_reach_the_channel(sio, kind):
    alice = uuid.uuid4()
    channel_id, _ = await make_channel(alice)
    client = await sio(alice)
    await joined(client, channel_id)
    message_id = await run_bus_event(kind, channel_id, alice)
    await client.expect("messageBroadcast")
    data = await client.expect(kind)
    assert data["channelId"] == channel_id
    if kind in ("messageDeleted", "messageComplete", "messageError"):
        assert data["messageId"] == message_id
    if kind == "channelUpdated":
        assert data["updates"]["name"] == "Renamed"
    assert await client.silent()


# --- resume -------------------------------------------------------------------------------------


async def test_join_with_last_message_id_resends_exactly_what_came_after_in_order(sio):
    alice, agent = uuid.uuid4(), uuid.uuid4()
    channel_id, _ = await make_channel(alice, agent)
    ids = [await post_message(channel_id, agent, f"message {n}") for n in range(4)]
    client = await sio(alice)
    await client.emit("1", {"channelId": channel_id, "lastMessageId": ids[1]})
    answer = await client.expect("channel_joined")
    assert (answer["lastSeq"], answer["resent"], answer["recovered"]) == (4, 2, True)
    await client.expect("room_joined")
    resent = [await client.expect("messageBroadcast") for _ in range(2)]
    assert [(item["id"], item["seq"]) for item in resent] == [(ids[2], 3), (ids[3], 4)]
    assert [item["text"] for item in resent] == ["message 2", "message 3"]
    live = await post_message(channel_id, agent, "live")
    assert await client.expect("messageBroadcast") == {**await _broadcast(live), "seq": 5}
    assert await client.silent()


@database_sync_to_async
def _broadcast(message_id: str) -> dict[str, Any]:
    from elizabus.realtime.broadcast import message_broadcast

    message = Message.objects.select_related("channel").get(id=message_id)
    return message_broadcast(services.message_event(message, server_id=message.channel.server_id))


async def test_the_hidden_order_case_resends_exactly_the_three(sio):
    # Join, see "before the gap", disconnect, three posts, rejoin with that id: exactly the
    # three, in order; an older message of the moment before is not resent (issue 22).
    alice, bob = uuid.uuid4(), uuid.uuid4()
    channel_id, _ = await make_channel(alice, bob)
    await post_message(channel_id, bob, "older")
    client = await sio(alice)
    await joined(client, channel_id)
    seen = await post_message(channel_id, bob, "before the gap")
    assert (await client.expect("messageBroadcast"))["text"] == "before the gap"
    await client.close()
    three = [await post_message(channel_id, bob, f"missed {n}") for n in range(3)]
    again = await sio(alice)
    await again.emit("1", {"channelId": channel_id, "lastMessageId": seen})
    assert (await again.expect("channel_joined"))["resent"] == 3
    await again.expect("room_joined")
    resent = [await again.expect("messageBroadcast") for _ in range(3)]
    assert [item["id"] for item in resent] == three
    assert [item["seq"] for item in resent] == [3, 4, 5]
    assert await again.silent()


async def test_join_with_last_seq_resends_after_it_and_tells_a_deletion_from_a_loss(sio):
    alice, agent = uuid.uuid4(), uuid.uuid4()
    channel_id, _ = await make_channel(alice, agent)
    ids = [await post_message(channel_id, agent, f"message {n}") for n in range(4)]
    await database_sync_to_async(services.message_delete)(
        channel_id=uuid.UUID(channel_id), message_id=uuid.UUID(ids[2])
    )
    client = await sio(alice)
    await client.emit("1", {"channelId": channel_id, "lastSeq": 1})
    answer = await client.expect("channel_joined")
    # Seq 3 is not resent, and the resend is complete: it was deleted, not lost.
    assert (answer["lastSeq"], answer["resent"], answer["recovered"]) == (4, 2, True)
    await client.expect("room_joined")
    resent = [await client.expect("messageBroadcast") for _ in range(2)]
    assert [item["seq"] for item in resent] == [2, 4]
    assert await client.silent()


async def test_an_unknown_last_message_id_resends_nothing_and_says_so(sio):
    alice = uuid.uuid4()
    channel_id, _ = await make_channel(alice)
    await post_message(channel_id, alice, "hello")
    client = await sio(alice)
    await client.emit("1", {"channelId": channel_id, "lastMessageId": str(uuid.uuid4())})
    answer = await client.expect("channel_joined")
    assert (answer["lastSeq"], answer["resent"], answer["recovered"]) == (1, 0, False)
    await client.expect("room_joined")
    assert await client.silent()


async def test_an_invalid_last_message_id_refuses_the_join(sio):
    client = await sio()
    await client.emit("1", {"channelId": CENTRAL, "lastMessageId": "yesterday"})
    assert (await client.expect("messageError"))["error"].endswith("must be UUIDs.")


@pytest.mark.parametrize("last_seq", [-1, "3", 1.5, True])
async def test_an_invalid_last_seq_refuses_the_join(sio, last_seq):
    client = await sio()
    await client.emit("1", {"channelId": CENTRAL, "lastSeq": last_seq})
    assert (await client.expect("messageError"))["error"].startswith("lastSeq must be")


class FakeSocket:
    sid = "me"

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_frame(self, frame: str) -> None:
        self.frames.append(frame)

    async def emit(self, event: str, data: Any) -> None:
        self.frames.append(event)


async def test_live_pushes_wait_for_the_resend_and_repeat_nothing():
    router = router_module.SocketRouter(rooms=None)
    router.socket = FakeSocket()
    resume = router_module._Resume()
    router._resumes = {"c": resume}

    def push(message_id: str, seq: int = 0, origin: str = "") -> dict:
        data = {"id": message_id}
        return group_message(
            "messageBroadcast", data, channel_id="c", message_id=message_id, origin=origin, seq=seq
        )

    await router.deliver(push("m2", 2))
    await router.deliver(push("mine", 3, origin="me"))
    assert router.socket.frames == []
    resume.covered = range(2, 4)  # resent up to 3
    resume.holding = False
    for message in resume.held:
        await router.deliver(message)
    assert router.socket.frames == []
    await router.deliver(push("m4", 4))
    await router.deliver(push("m2", 2))  # late, from another server: resent already
    await router.deliver(push("edit"))  # an edit has no seq: always live
    await router.deliver(push("m1", 1))  # before the resend: not covered
    assert len(router.socket.frames) == 3
