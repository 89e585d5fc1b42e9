"""The Channels consumers at ``/socket.io/``: both transports, the upgrade, origins and limits."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.layers import channel_layers, get_channel_layer
from channels.testing import HttpCommunicator, WebsocketCommunicator

from elizabus.realtime.broadcast import channel_group, group_message
from elizabus.realtime.rooms import local_rooms
from project.settings import redis_channel_layer

from .helpers import SioClient
from .test_rooms import Seat

pytestmark = pytest.mark.django_db(transaction=True)

POLL = "/socket.io/?EIO=4&transport=polling"


async def http(application, method: str, path: str, body: bytes = b"", headers=None) -> dict:
    communicator = HttpCommunicator(application, method, path, body=body, headers=headers or [])
    return await communicator.get_response(timeout=3)


def packets(response: dict) -> list[str]:
    return response["body"].decode().split("\x1e")


async def polling_handshake(application) -> str:
    response = await http(application, "GET", POLL)
    assert response["status"] == 200
    assert dict(response["headers"])[b"content-type"].startswith(b"text/plain")
    opened = packets(response)[0]
    handshake = json.loads(opened[1:])
    assert opened[0] == "0" and handshake["upgrades"] == ["websocket"]
    return handshake["sid"]


async def test_websocket_only_handshake_announces_the_reference_options(application):
    client = SioClient(application)
    await client.open()
    assert client.handshake["upgrades"] == []
    assert client.handshake["pingInterval"] == 25000
    assert client.handshake["pingTimeout"] == 20000
    assert client.handshake["maxPayload"] == 1024 * 1024
    await client.close()


async def test_websocket_connect_authenticates_then_establishes(application):
    entity_id = str(uuid.uuid4())
    client = SioClient(application)
    assert await client.connect({"entityId": entity_id}) == "ok"
    authenticated = await client.expect("authenticated")
    assert authenticated["entityId"] == entity_id
    assert isinstance(authenticated["timestamp"], int)
    assert await client.expect("connection_established") == {
        "message": "Connected to Eliza Socket.IO server",
        "socketId": client.sid,
    }
    await client.close()


async def test_polling_session_connects_and_receives_over_gets(application):
    sid = await polling_handshake(application)
    entity_id = str(uuid.uuid4())
    posted = await http(
        application, "POST", f"{POLL}&sid={sid}", body=f'40{{"entityId":"{entity_id}"}}'.encode()
    )
    assert (posted["status"], posted["body"]) == (200, b"ok")
    got = packets(await http(application, "GET", f"{POLL}&sid={sid}"))
    assert got[0].startswith('40{"sid":')
    authenticated = json.loads(got[1][2:])
    assert authenticated[0] == "authenticated" and authenticated[1]["entityId"] == entity_id
    established = json.loads(got[2][2:])
    assert established[0] == "connection_established"
    assert established[1]["socketId"] == json.loads(got[0][2:])["sid"]
    closed = await http(application, "POST", f"{POLL}&sid={sid}", body=b"1")
    assert closed["body"] == b"ok"


async def test_a_long_poll_is_answered_when_something_is_due(application):
    sid = await polling_handshake(application)
    poll = asyncio.ensure_future(http(application, "GET", f"{POLL}&sid={sid}"))
    await asyncio.sleep(0.1)
    assert not poll.done()
    await http(application, "POST", f"{POLL}&sid={sid}", body=b"40{}")
    assert packets(await poll) == ['44{"message":"Valid entityId required"}']


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/socket.io/?EIO=3&transport=polling", 5),
        ("/socket.io/?EIO=4&transport=carrier-pigeon", 0),
        (f"{POLL}&sid=nope", 1),
    ],
)
async def test_polling_refusals_are_engine_io_errors(application, path, code):
    response = await http(application, "GET", path)
    assert response["status"] == 400
    assert json.loads(response["body"])["code"] == code


async def test_an_oversized_post_is_413_and_ends_the_session(application):
    sid = await polling_handshake(application)
    body = b"4" + b"x" * (1024 * 1024 + 1)
    response = await http(application, "POST", f"{POLL}&sid={sid}", body=body)
    assert response["status"] == 413
    after = await http(application, "GET", f"{POLL}&sid={sid}")
    assert packets(after) == ["1"]


async def test_a_malformed_post_is_400(application):
    sid = await polling_handshake(application)
    response = await http(application, "POST", f"{POLL}&sid={sid}", body=b"\xff\xfe")
    assert response["status"] == 400


async def test_oversized_websocket_frame_closes_with_1009(application):
    client = SioClient(application)
    await client.open()
    await client.ws.send_to(text_data="4" + "x" * (1024 * 1024 + 1))
    closed = await client.ws.receive_output()
    assert closed == {"type": "websocket.close", "code": 1009}


async def test_upgrade_from_polling_to_websocket(application):
    sid = await polling_handshake(application)
    entity_id = str(uuid.uuid4())
    await http(
        application, "POST", f"{POLL}&sid={sid}", body=f'40{{"entityId":"{entity_id}"}}'.encode()
    )
    connect_answer = packets(await http(application, "GET", f"{POLL}&sid={sid}"))
    assert connect_answer[0].startswith("40")
    poll = asyncio.ensure_future(http(application, "GET", f"{POLL}&sid={sid}"))
    await asyncio.sleep(0.05)
    ws = WebsocketCommunicator(application, f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
    connected, _ = await ws.connect()
    assert connected
    await ws.send_to(text_data="2probe")
    assert await ws.receive_from() == "3probe"
    assert packets(await poll) == ["6"]
    await ws.send_to(text_data="5")
    await ws.send_to(text_data='42["1",{"channelId":"00000000-0000-0000-0000-000000000000"}]')
    joined = json.loads((await ws.receive_from())[2:])
    assert joined[0] == "channel_joined"
    after = await http(application, "GET", f"{POLL}&sid={sid}")
    assert after["status"] == 400
    await ws.disconnect()


async def test_a_second_probe_for_the_same_session_is_refused(application):
    sid = await polling_handshake(application)
    first = WebsocketCommunicator(application, f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
    assert (await first.connect())[0]
    await first.send_to(text_data="2probe")
    assert await first.receive_from() == "3probe"
    second = WebsocketCommunicator(application, f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
    assert not (await second.connect())[0]
    await first.disconnect()


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        (b"http://localhost:8000", True),
        (b"https://evil.example", False),
        # The same host on another port (another local app), another scheme, the default port.
        (b"http://localhost:3000", False),
        (b"https://localhost:8000", False),
        (b"http://localhost", False),
        (b"null", False),
    ],
)
async def test_origins(application, origin, allowed):
    """Without configured origins, only the server's own: scheme, host and port, as the
    request reached it."""
    headers = [(b"host", b"localhost:8000"), *([(b"origin", origin)] if origin else [])]
    ws = WebsocketCommunicator(
        application, "/socket.io/?EIO=4&transport=websocket", headers=headers
    )
    assert (await ws.connect())[0] is allowed
    response = await http(application, "GET", POLL, headers=headers)
    assert response["status"] == (200 if allowed else 403)
    if allowed:
        await ws.disconnect()


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        # Behind a TLS proxy that passes the host but not the scheme, the browser's word counts.
        ([(b"origin", b"https://localhost:8000"), (b"sec-fetch-site", b"same-origin")], True),
        ([(b"origin", b"https://localhost:8000"), (b"sec-fetch-site", b"cross-site")], False),
    ],
)
async def test_a_browser_s_same_origin_word_counts(application, headers, allowed):
    headers = [(b"host", b"localhost:8000"), *headers]
    response = await http(application, "GET", POLL, headers=headers)
    assert response["status"] == (200 if allowed else 403)


async def test_a_host_that_is_not_allowed_is_no_origin_of_the_server(application):
    headers = [(b"host", b"evil.example"), (b"origin", b"http://evil.example")]
    assert (await http(application, "GET", POLL, headers=headers))["status"] == 403
    headers.append((b"sec-fetch-site", b"same-origin"))
    assert (await http(application, "GET", POLL, headers=headers))["status"] == 403


async def test_configured_origins_replace_allowed_hosts(application, settings):
    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_ALLOWED_ORIGINS": ["https://app.example"]}
    ok = await http(application, "GET", POLL, headers=[(b"origin", b"https://app.example")])
    assert ok["status"] == 200
    assert dict(ok["headers"])[b"access-control-allow-origin"] == b"https://app.example"
    refused = await http(application, "GET", POLL, headers=[(b"origin", b"http://localhost")])
    assert refused["status"] == 403


@pytest.mark.redis
async def test_polling_requests_leave_the_redis_layers_queue_to_the_rooms(
    application, redis_url: str, settings
) -> None:
    # On channels-redis every receiver of a process pops from the process's one queue in Redis.
    # A polling request that received on a channel of its own, and was cancelled as it ended,
    # could pop a broadcast and drop it: the long fault run's socket misses.
    config = redis_channel_layer(redis_url)
    config["CONFIG"]["prefix"] = f"test-polling-{uuid.uuid4().hex}"
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()
    layer = get_channel_layer()
    receivers: list[str] = []
    receive = layer.receive

    async def counted_receive(channel: str) -> dict:
        receivers.append(channel)
        return await receive(channel)

    layer.receive = counted_receive
    rooms = local_rooms()
    seat = Seat()
    channel_id = str(uuid.uuid4())
    try:
        await rooms.join(channel_id, seat)
        sid = await polling_handshake(application)
        connect = b"40" + json.dumps({"entityId": str(uuid.uuid4())}).encode()
        await http(application, "POST", f"{POLL}&sid={sid}", body=connect)
        assert packets(await http(application, "GET", f"{POLL}&sid={sid}"))[0].startswith("40")
        message = group_message("messageBroadcast", {"n": 1}, channel_id=channel_id)
        await layer.group_send(channel_group(channel_id), message)
        assert await seat.wait_for(1) == [message["frame"]]
    finally:
        await rooms.close()
        await layer.flush()
        await layer.close_pools()
        channel_layers.backends.clear()
    # One channel was received on: the rooms' pump's, none of a request's own.
    assert len(set(receivers)) == 1, receivers
