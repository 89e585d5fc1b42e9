"""A process's sockets share one Channels channel: each broadcast crosses the layer once per
process and reaches every socket of the channel here, in order, on the in-memory layer and on
a real Redis layer alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer

from elizabus.realtime.broadcast import channel_group, group_message
from elizabus.realtime.rooms import LocalRooms, local_rooms


class Seat:
    """A socket's seat: records the frames it is handed."""

    def __init__(self, fail: bool = False) -> None:
        self.frames: list[str] = []
        self.fail = fail
        self.changed = asyncio.Event()

    async def deliver(self, message: dict[str, Any]) -> None:
        self.frames.append(message["frame"])
        self.changed.set()
        if self.fail:
            raise RuntimeError("this socket is broken")

    async def wait_for(self, count: int, timeout: float = 3.0) -> list[str]:
        async with asyncio.timeout(timeout):
            while len(self.frames) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.frames


def push(channel_id: str, text: str) -> dict[str, Any]:
    return group_message("messageBroadcast", {"text": text}, channel_id=channel_id)


@pytest.fixture(params=["in-memory", "redis"])
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "in-memory":
        made = InMemoryChannelLayer()
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisChannelLayer(hosts=[url], prefix=f"test-rooms-{uuid.uuid4().hex}")
    yield made
    await made.flush()
    if hasattr(made, "close_pools"):
        await made.close_pools()


@pytest.fixture
async def rooms(layer: Any) -> AsyncIterator[LocalRooms]:
    made = LocalRooms(layer)
    yield made
    await made.close()


async def test_a_broadcast_reaches_each_socket_of_its_channel_only(rooms, layer) -> None:
    here, also_here, elsewhere = Seat(), Seat(), Seat()
    await rooms.join("c1", here)
    await rooms.join("c1", also_here)
    await rooms.join("c2", elsewhere)

    for n in range(5):
        await layer.group_send(channel_group("c1"), push("c1", f"m{n}"))
    await layer.group_send(channel_group("c2"), push("c2", "other"))

    expected = [push("c1", f"m{n}")["frame"] for n in range(5)]
    assert await here.wait_for(5) == expected
    assert await also_here.wait_for(5) == expected
    assert await elsewhere.wait_for(1) == [push("c2", "other")["frame"]]


async def test_the_layer_carries_each_broadcast_once_per_process() -> None:
    layer = InMemoryChannelLayer()
    rooms = LocalRooms(layer)
    seats = [Seat() for _ in range(20)]
    sent: list[str] = []
    original = layer.send

    async def counting_send(channel: str, message: dict[str, Any]) -> None:
        sent.append(channel)
        await original(channel, message)

    layer.send = counting_send
    try:
        for seat in seats:
            await rooms.join("c1", seat)
        await layer.group_send(channel_group("c1"), push("c1", "once"))
        for seat in seats:
            assert await seat.wait_for(1) == [push("c1", "once")["frame"]]
        assert len(sent) == 1
    finally:
        await rooms.close()


async def test_the_last_socket_leaving_takes_the_process_out_of_the_group(rooms, layer) -> None:
    first, second, witness = Seat(), Seat(), Seat()
    await rooms.join("c1", first)
    await rooms.join("c1", second)
    await rooms.join("c2", witness)

    await rooms.leave("c1", first)
    await layer.group_send(channel_group("c1"), push("c1", "still"))
    assert await second.wait_for(1) == [push("c1", "still")["frame"]]

    await rooms.leave("c1", second)
    await layer.group_send(channel_group("c1"), push("c1", "gone"))
    await layer.group_send(channel_group("c2"), push("c2", "after"))
    # c2's push was sent after c1's: once it arrived, c1's would have too.
    await witness.wait_for(1)
    assert first.frames == []
    assert second.frames == [push("c1", "still")["frame"]]


async def test_a_failing_socket_does_not_stop_the_others(rooms, layer) -> None:
    broken, fine = Seat(fail=True), Seat()
    await rooms.join("c1", broken)
    await rooms.join("c1", fine)

    await layer.group_send(channel_group("c1"), push("c1", "one"))
    await layer.group_send(channel_group("c1"), push("c1", "two"))

    assert len(await fine.wait_for(2)) == 2
    assert len(await broken.wait_for(2)) == 2


async def test_memberships_are_renewed_before_the_layer_expires_them() -> None:
    # The in-memory layer forgets a group member after group_expiry seconds.
    layer = InMemoryChannelLayer(group_expiry=1)
    rooms = LocalRooms(layer)
    seat = Seat()
    try:
        await rooms.join("c1", seat)
        await asyncio.sleep(1.6)
        await layer.group_send(channel_group("c1"), push("c1", "late"))
        assert await seat.wait_for(1) == [push("c1", "late")["frame"]]
    finally:
        await rooms.close()


async def test_a_burst_beyond_the_layers_default_capacity_loses_nothing() -> None:
    # The configured layer: a full channel would drop group messages without a word. The first
    # delivery is held, so the whole burst waits in the process's channel.
    rooms = local_rooms()
    release = asyncio.Event()

    class SlowSeat(Seat):
        async def deliver(self, message: dict[str, Any]) -> None:
            await release.wait()
            await super().deliver(message)

    seat = SlowSeat()
    await rooms.join("c1", seat)
    layer = get_channel_layer()
    for n in range(500):
        await layer.group_send(channel_group("c1"), push("c1", f"m{n}"))
    release.set()
    frames = await seat.wait_for(500)
    assert frames == [push("c1", f"m{n}")["frame"] for n in range(500)]


class _SlowLayer(InMemoryChannelLayer):
    """Its group_add waits for ``release``, as a remote layer can."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.adding = asyncio.Event()

    async def group_add(self, group: str, channel: str) -> None:
        self.adding.set()
        await self.release.wait()
        await super().group_add(group, channel)


@pytest.mark.django_db(transaction=True)
async def test_a_socket_that_leaves_while_its_join_waits_is_not_left_in_the_room() -> None:
    from elizabus.models import CENTRAL_CHANNEL_ID
    from elizabus.realtime.router import SocketRouter

    layer = _SlowLayer()
    rooms = LocalRooms(layer)

    class RecordingSocket:
        sid = "s1"
        frames: list[str] = []

        async def emit(self, event: str, *args: Any) -> None:
            pass

        async def send_frame(self, frame: str) -> None:
            self.frames.append(frame)

    router = SocketRouter(rooms=rooms)
    router.socket = RecordingSocket()
    router.entity_id = uuid.uuid4()
    try:
        join = asyncio.ensure_future(router.on_event("1", [{"channelId": str(CENTRAL_CHANNEL_ID)}]))
        await asyncio.wait_for(layer.adding.wait(), 2)
        await router.on_disconnect("transport close")
        layer.release.set()
        await asyncio.wait_for(join, 2)
        seat = Seat()
        await rooms.join(str(CENTRAL_CHANNEL_ID), seat)
        await layer.group_send(
            channel_group(str(CENTRAL_CHANNEL_ID)), push(str(CENTRAL_CHANNEL_ID), "after")
        )
        # One pass of the pump hands a message to every seat: the seat has it, so the
        # disconnected socket would have it too, were it still in the room.
        await seat.wait_for(1)
        assert router.socket.frames == []
    finally:
        await rooms.close()


async def test_an_idle_process_keeps_receiving_on_the_configured_redis_layer(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The layer's blocking pop lasts 5 s; a read timeout no longer than that broke every idle
    # receive (redis-py 8). Wait through more than one pop, then send.
    from project.settings import redis_channel_layer

    config = redis_channel_layer(redis_url)["CONFIG"]
    layer = RedisChannelLayer(**config, prefix=f"test-idle-{uuid.uuid4().hex}")
    rooms = LocalRooms(layer)
    seat = Seat()
    try:
        await rooms.join("c1", seat)
        await asyncio.sleep(6.5)
        await layer.group_send(channel_group("c1"), push("c1", "after a quiet while"))
        assert await seat.wait_for(1) == [push("c1", "after a quiet while")["frame"]]
        assert not [r for r in caplog.records if r.name == "elizabus.realtime.rooms"]
    finally:
        await rooms.close()
        await layer.flush()
        await layer.close_pools()


class _FlakyLayer(InMemoryChannelLayer):
    """An in-memory layer whose next receives fail, as Redis's do while it restarts."""

    failures = 0

    async def receive(self, channel: str) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection closed by server.")
        return await super().receive(channel)


@pytest.mark.django_db(transaction=True)
async def test_after_the_layer_failed_the_sockets_get_what_was_stored_meanwhile_once(
    world,
) -> None:
    from asgiref.sync import sync_to_async

    from elizabus import services
    from elizabus.realtime.broadcast import new_message_group_message

    layer = _FlakyLayer()
    rooms = LocalRooms(layer)
    seat = Seat()
    channel = str(world.channel.id)
    try:
        await rooms.join(channel, seat)
        # Stored while its broadcast is lost on the way (it goes to another layer here).
        message = await sync_to_async(services.message_create)(
            channel_id=world.channel.id, author_id=world.bob, content="said during the outage"
        )
        layer.failures = 1
        await layer.group_send(channel_group(channel), push(channel, "before the outage"))
        # The wake-up, then (from the database) what came after the room's offset: this, and
        # not Alice's message, stored before the room was made.
        frames = await seat.wait_for(2)
        assert "said during the outage" in frames[1]
        # The broadcast itself, late: not handed out again.
        event = await sync_to_async(services.message_event)(message, server_id=world.server.id)
        await layer.group_send(channel_group(channel), new_message_group_message(event, 7))
        await layer.group_send(channel_group(channel), push(channel, "after"))
        frames = await seat.wait_for(3)
        assert "after" in frames[2]
        assert sum("said during the outage" in frame for frame in frames) == 1
        assert not any(world.message.content in frame for frame in frames)
    finally:
        await rooms.close()


@pytest.mark.django_db(transaction=True)
async def test_the_catch_up_hands_out_by_seq_what_did_not_come_even_out_of_order(world) -> None:
    from asgiref.sync import sync_to_async

    from elizabus import services
    from elizabus.realtime.broadcast import new_message_group_message

    layer = _FlakyLayer()
    rooms = LocalRooms(layer)
    seat = Seat()
    channel = str(world.channel.id)

    def post(text: str) -> Any:
        message = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content=text
        )
        return services.message_event(message, server_id=world.server.id)

    try:
        await rooms.join(channel, seat)
        # Seqs 2 and 3; only 3 comes (another server's broadcast overtook 2's, then 2's was
        # lost with the layer).
        lost, overtaking = [await sync_to_async(post)(text) for text in ("lost", "overtaking")]
        await layer.group_send(channel_group(channel), new_message_group_message(overtaking, 1))
        assert "overtaking" in (await seat.wait_for(1))[0]
        layer.failures = 1
        await layer.group_send(channel_group(channel), push(channel, "wake up"))
        frames = await seat.wait_for(3)
        assert "wake up" in frames[1] and f'"seq":{lost.seq}' in frames[2]
        assert sum("overtaking" in frame for frame in frames) == 1
        assert rooms._offsets[channel] == overtaking.seq == 3
    finally:
        await rooms.close()


class _AwayLayer(InMemoryChannelLayer):
    """An in-memory layer that refuses the next group_add calls, as Redis does while it
    restarts."""

    refusals = 0

    async def group_add(self, group: str, channel: str) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("Connection closed by server.")
        await super().group_add(group, channel)


async def test_a_join_while_the_layer_is_away_seats_the_socket_and_joins_once_it_is_back() -> None:
    layer = _AwayLayer()
    layer.refusals = 2
    rooms = LocalRooms(layer)
    seat = Seat()
    try:
        await rooms.join("c1", seat)  # does not fail
        async with asyncio.timeout(10):
            while layer.refusals or not layer.groups.get(channel_group("c1")):
                await asyncio.sleep(0.1)
        await layer.group_send(channel_group("c1"), push("c1", "back"))
        assert await seat.wait_for(1) == [push("c1", "back")["frame"]]
    finally:
        await rooms.close()


@pytest.mark.redis
async def test_a_join_and_a_leave_on_a_hung_redis_layer_take_a_second_at_most(
    hung_redis: str,
) -> None:
    # The layer's connections read for up to 15 s (its receive); a socket's join waited that
    # long for its group_add while Redis hung.
    from project.settings import redis_channel_layer

    config = redis_channel_layer(hung_redis)["CONFIG"]
    layer = RedisChannelLayer(**config, prefix=f"test-hung-{uuid.uuid4().hex}")
    rooms = LocalRooms(layer)
    seat = Seat()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await rooms.join("c1", seat)
        joined = loop.time() - started
        await rooms.leave("c1", seat)
        left = loop.time() - started - joined
    finally:
        await rooms.close()
        await layer.close_pools()

    assert joined < 1.5 and left < 1.5, (joined, left)
