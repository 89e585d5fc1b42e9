"""Data isolation over Socket.IO (docs/security.md, "Access"): the entity is the token's, and
user A's socket can join, send to, read and stream nothing of user B's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from elizabus import services
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Message
from elizabus.realtime.router import (
    JOIN_DENIED,
    LOG_STREAM_OPERATOR,
    SEND_DENIED,
    SENDER_MISMATCH,
)

from .helpers import SioClient

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "k" * 48
OPERATOR_KEY = "the-operator-key"
ZERO = str(DEFAULT_SERVER_ID)


@pytest.fixture(autouse=True)
def isolated(settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "DATA_ISOLATION": True, "JWT_SIGNING_KEYS": [KEY]}
    settings.ELIZA_SERVER_AUTH_TOKEN = OPERATOR_KEY


@database_sync_to_async
def users() -> tuple[Any, Any, str, str]:
    """Alice and Bob with tokens; Bob's group channel and Alice's own."""
    alice = services.account_register(
        username="alice", email="alice@example.com", password="alice's passphrase"
    )
    bob = services.account_register(
        username="bob", email="bob@example.com", password="bob's long passphrase"
    )
    bobs = services.channel_create(
        server_id=DEFAULT_SERVER_ID, name="bob's", participant_ids=[bob.entity_id]
    )
    alices = services.channel_create(
        server_id=DEFAULT_SERVER_ID, name="alice's", participant_ids=[alice.entity_id]
    )
    return alice, bob, str(bobs.id), str(alices.id)


async def connect(application: Any, **auth: Any) -> tuple[SioClient, str]:
    client = SioClient(application)
    return client, await client.connect(auth)


async def connected(application: Any, **auth: Any) -> tuple[SioClient, dict[str, Any]]:
    client, answer = await connect(application, **auth)
    assert answer == "ok", answer
    authenticated = await client.expect("authenticated")
    await client.expect("connection_established")
    return client, authenticated


def send(sender: Any, channel_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "senderId": str(sender),
        "message": "from alice",
        "channelId": channel_id,
        "serverId": ZERO,
        **extra,
    }


async def test_the_handshake_needs_a_token_and_takes_its_entity(application):
    alice, bob, _, _ = await users()

    for auth, refusal in (
        ({"entityId": str(alice.entity_id)}, "JWT token required for data isolation"),
        ({"token": "not.a.jwt"}, "Invalid JWT token"),
        ({"token": alice.access_token, "apiKey": "wrong"}, None),
    ):
        client, answer = await connect(application, **auth)
        if refusal is None:
            assert answer == "ok"
        else:
            assert answer == refusal
        await client.close()

    # The entityId a socket claims is ignored: the token says who it is.
    client, authenticated = await connected(
        application, token=alice.access_token, entityId=str(bob.entity_id)
    )
    assert authenticated["entityId"] == str(alice.entity_id)
    await client.close()


async def test_a_user_joins_sends_and_streams_nothing_of_another_s(application):
    alice, bob, bobs, alices = await users()
    intruder, _ = await connected(application, token=alice.access_token)
    owner, _ = await connected(application, token=bob.access_token)
    await owner.emit("1", {"channelId": bobs})
    await owner.expect("channel_joined")
    await owner.expect("room_joined")

    for channel in (bobs, str(CENTRAL_CHANNEL_ID)):
        await intruder.emit("1", {"channelId": channel})
        assert await intruder.expect("messageError") == {"error": JOIN_DENIED}
        await intruder.emit("message", {"type": 1, "payload": {"roomId": channel}})
        assert await intruder.expect("messageError") == {"error": JOIN_DENIED}
        await intruder.emit("2", send(alice.entity_id, channel))
        assert await intruder.expect("messageError") == {"error": SEND_DENIED}
    # As Bob, into Bob's channel and into her own.
    for channel in (bobs, alices):
        await intruder.emit("2", send(bob.entity_id, channel))
        assert await intruder.expect("messageError") == {"error": SENDER_MISMATCH}
    await intruder.emit("subscribe_logs")
    assert await intruder.expect("messageError") == {"error": LOG_STREAM_OPERATOR}

    # Bob speaks in his channel: Alice hears nothing of it.
    await owner.emit("2", send(bob.entity_id, bobs, message="bob-secret-words"))
    await owner.expect("messageBroadcast")
    await owner.expect("messageAck")
    assert await intruder.silent(0.3)
    assert await owner.silent()
    texts = await database_sync_to_async(
        lambda: list(Message.objects.values_list("content", flat=True))
    )()
    assert texts == ["bob-secret-words"]
    await intruder.close()
    await owner.close()


async def test_a_user_sends_as_itself_where_it_participates(application):
    alice, _, _, alices = await users()
    client, _ = await connected(application, token=alice.access_token)
    await client.emit("1", {"channelId": alices})
    await client.expect("channel_joined")
    await client.expect("room_joined")

    payload = send(alice.entity_id, alices)
    del payload["senderId"]  # left out: the socket's entity
    await client.emit("2", payload)

    assert (await client.expect("messageBroadcast"))["senderId"] == str(alice.entity_id)
    await client.expect("messageAck")
    await client.close()


async def test_the_operator_s_key_declares_its_entity_and_streams_logs(application):
    entity = uuid.uuid4()
    client, authenticated = await connected(application, apiKey=OPERATOR_KEY, entityId=str(entity))

    assert authenticated["entityId"] == str(entity)
    await client.emit("subscribe_logs")
    assert (await client.expect("log_subscription_confirmed"))["subscribed"] is True
    await client.close()
