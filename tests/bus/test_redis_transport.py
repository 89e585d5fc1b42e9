"""The Redis transport against a real Redis: events cross the stream unchanged to every process;
a group's events are handled by one member at a time, in order, and acknowledged only once
handled, so a member that dies leaves its entries to the next; the stream is trimmed only past
what every group acknowledged; bad entries are skipped."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
import redis

from elizabus.bus import dispatch
from elizabus.bus.events import ChannelCleared, MessageError, MessageStreamChunk, NewMessage
from elizabus.bus.outbox import OutboxRecord
from elizabus.bus.transports.redis import RedisStreamTransport
from tests.conftest import Published

pytestmark = pytest.mark.redis

_ids = iter(range(1, 1_000_000))


def _message(text: str) -> NewMessage:
    return NewMessage(
        id=str(uuid.uuid4()),
        channel_id=str(uuid.uuid4()),
        message_server_id=str(uuid.uuid4()),
        author_id=str(uuid.uuid4()),
        content=text,
        created_at=1_700_000_000_000,
        raw_message={"text": text, "nested": [1, {"a": None}]},
        metadata={"agentName": "Ada", "ünïcode": "✓"},
    )


def _record(event: Any) -> OutboxRecord:
    return OutboxRecord(next(_ids), event, "tests")


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.fixture
def stream(settings, redis_url: str) -> Iterator[str]:
    name = f"elizabus-test:{uuid.uuid4()}"
    settings.ELIZABUS = {**settings.ELIZABUS, "BUS_STREAM": name, "BUS_LEASE_SECONDS": 0.6}
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name, *client.keys(f"{name}:*"))
    client.close()


@pytest.fixture
def transports(redis_url: str, stream: str) -> Iterator[Callable[..., RedisStreamTransport]]:
    made: list[RedisStreamTransport] = []

    def make(*, listen: bool = True, consumer: str = "") -> RedisStreamTransport:
        transport = RedisStreamTransport(redis_url, listen=listen, consumer=consumer)
        transport.start()
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.stop()


def _send(transport: RedisStreamTransport, *events: Any) -> list[int]:
    taken: list[int] = []
    transport.send([_record(event) for event in events], taken.extend)
    _wait_for(lambda: len(taken) == len(events))
    return taken


def test_an_event_crosses_the_stream_unchanged(transports, published: Published) -> None:
    transport = transports()
    event = _message("hello")
    cleared = ChannelCleared(channel_id=event.channel_id, message_count=3)
    _send(transport, event, cleared)
    _wait_for(lambda: len(published.events) == 2)
    assert published.events == [event, cleared]


def test_a_reader_starts_at_the_end(transports, published: Published) -> None:
    sender = transports(listen=False)
    _send(sender, _message("before"))
    transports()
    after = _message("after")
    _send(sender, after)
    _wait_for(lambda: bool(published.events))
    time.sleep(0.2)
    assert published.events == [after]


def test_an_event_sent_twice_reaches_a_process_once(transports, published: Published) -> None:
    transport = transports()
    record = _record(_message("once"))
    transport.send([record, record], lambda ids: None)
    later = _message("later")
    _send(transport, later)
    _wait_for(lambda: len(published.events) >= 2)
    assert published.events == [record.event, later]


class GroupReceiver:
    """A group's receiver that records which member handled what; can be told to hang."""

    def __init__(self, scope: dispatch.Scope) -> None:
        self.scope = scope
        self.handled: list[tuple[str, str]] = []
        self.hang = threading.Event()
        self.uid = f"tests:group:{scope.name}"

    def receive(self, sender: Any, event: NewMessage, **kwargs: Any) -> Future[None]:
        done: Future[None] = Future()
        member = threading.current_thread().name
        if self.hang.is_set():
            return done  # never resolves: the member died in the middle of it
        self.handled.append((event.content, member))
        done.set_result(None)
        return done


@pytest.fixture
def group_receiver() -> Iterator[GroupReceiver]:
    scope = dispatch.group(f"tests-{uuid.uuid4()}")
    receiver = GroupReceiver(scope)
    dispatch.connect(NewMessage, receiver.receive, dispatch_uid=receiver.uid, scope=scope)
    dispatch.join(scope)
    yield receiver
    dispatch.leave(scope)
    dispatch.disconnect(NewMessage, dispatch_uid=receiver.uid)


def _wait_for_holder(*members: RedisStreamTransport, group: str) -> RedisStreamTransport:
    def holder() -> RedisStreamTransport | None:
        for transport in members:
            member = transport._groups.get(group)
            if member is not None and member.holding:
                return transport
        return None

    _wait_for(lambda: holder() is not None)
    return holder()


def test_a_group_is_handled_by_one_member_in_order(
    transports, group_receiver: GroupReceiver
) -> None:
    first, second = transports(consumer="one"), transports(consumer="two")
    holder = _wait_for_holder(first, second, group=group_receiver.scope.name)
    time.sleep(0.3)  # the holder's group exists
    texts = [f"m{n}" for n in range(30)]
    _send(first, *[_message(text) for text in texts])
    _wait_for(lambda: len(group_receiver.handled) == len(texts))
    time.sleep(0.3)
    assert [text for text, _ in group_receiver.handled] == texts
    assert {member for _, member in group_receiver.handled} == {
        f"bus-group-{group_receiver.scope.name}"
    }
    assert holder in (first, second)
    client = holder.client
    assert client.xpending(holder.stream, group_receiver.scope.name)["pending"] == 0


def _hold_one(transport: RedisStreamTransport, group_receiver: GroupReceiver, text: str) -> None:
    """Sends one event that the group's receiver takes up and holds: it stays pending."""
    _wait_for_holder(transport, group=group_receiver.scope.name)
    time.sleep(0.3)
    group_receiver.hang.set()
    _send(transport, _message(text))
    _wait_for(
        lambda: (
            transport.client.xpending(transport.stream, group_receiver.scope.name)["pending"] == 1
        )
    )


def test_a_member_that_dies_mid_event_leaves_it_to_the_next(
    transports, redis_url: str, group_receiver: GroupReceiver
) -> None:
    first = transports(consumer="first")
    _hold_one(first, group_receiver, "interrupted")
    # The member dies: its threads stop, its lease expires, nothing was acknowledged.
    first._stopping.set()
    group_receiver.hang.clear()
    second = transports(consumer="second")
    _send(second, _message("after"))
    _wait_for(lambda: len(group_receiver.handled) == 2)
    assert [text for text, _ in group_receiver.handled] == ["interrupted", "after"]
    _wait_for(
        lambda: second.client.xpending(second.stream, group_receiver.scope.name)["pending"] == 0
    )


def test_a_group_left_and_joined_again_loses_nothing_said_between(
    settings, transports, group_receiver: GroupReceiver
) -> None:
    # A restarted agent leaves its group and disconnects its receivers, then connects and
    # joins again; the supervisor's round (a third of the lease) may come only after that.
    settings.ELIZABUS = {**settings.ELIZABUS, "BUS_LEASE_SECONDS": 6.0}
    transport = transports(consumer="restarting")
    scope = group_receiver.scope
    _wait_for_holder(transport, group=scope.name)
    time.sleep(0.3)  # the holder's group exists
    dispatch.leave(scope)
    dispatch.disconnect(NewMessage, dispatch_uid=group_receiver.uid)
    _send(transport, _message("said while restarting"))
    # The holder reads the entry while no receiver of the group is connected.
    _wait_for(
        lambda: any(
            info["name"].decode() == scope.name and info["entries-read"]
            for info in transport.client.xinfo_groups(transport.stream)
        )
    )
    dispatch.connect(
        NewMessage, group_receiver.receive, dispatch_uid=group_receiver.uid, scope=scope
    )
    dispatch.join(scope)
    _wait_for(lambda: bool(group_receiver.handled), timeout=15)
    assert [text for text, _ in group_receiver.handled] == ["said while restarting"]


def test_the_stream_is_trimmed_only_past_what_every_group_acknowledged(
    transports, group_receiver: GroupReceiver
) -> None:
    transport = transports(consumer="solo")
    _hold_one(transport, group_receiver, "held")
    # Old enough for the EACH readers' minute to have passed.
    from elizabus.bus.transports import redis as module

    module.EACH_RETENTION_MS, saved = 0, module.EACH_RETENTION_MS
    try:
        transport.maintain()
        assert transport.client.xlen(transport.stream) == 1
        # Acknowledged: nothing holds the entry any longer.
        entry_id = transport.client.xrange(transport.stream)[0][0]
        transport.client.xack(transport.stream, group_receiver.scope.name, entry_id)
        time.sleep(0.01)
        transport.maintain()
        assert transport.client.xlen(transport.stream) == 0
    finally:
        module.EACH_RETENTION_MS = saved


def test_trimming_survives_a_group_acknowledging_everything_meanwhile(
    transports, group_receiver: GroupReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = transports(consumer="solo")
    _hold_one(transport, group_receiver, "held")
    client = transport.client
    # The groups as they were read while the entry was pending; then it is acknowledged.
    groups = client.xinfo_groups(transport.stream)
    entry_id = client.xrange(transport.stream)[0][0]
    client.xack(transport.stream, group_receiver.scope.name, entry_id)
    monkeypatch.setattr(client, "xinfo_groups", lambda stream: groups)
    transport.maintain()
    assert client.xlen(transport.stream) == 1  # kept for the readers' retention, not an error


def test_a_malformed_entry_is_skipped(
    redis_url: str, stream: str, transports, published: Published
) -> None:
    transports()
    client = redis.Redis.from_url(redis_url)
    client.xadd(stream, {"event": "no_such_event", "data": "{}"})
    client.xadd(stream, {"event": "new_message", "data": "{not json"})
    client.xadd(stream, {"event": "message:error", "data": '{"message_id": "x"}'})
    client.close()
    good = MessageError(message_id="m", channel_id="c", agent_id="a", error="boom")
    _send(transports(listen=False), good)
    _wait_for(lambda: bool(published.events))
    assert published.events == [good]


def test_what_redis_does_not_take_is_never_reported_taken(settings, stream: str) -> None:
    transport = RedisStreamTransport("redis://127.0.0.1:1/0", listen=False)
    transport.start()
    taken: list[int] = []
    try:
        transport.send([_record(_message("lost?"))], taken.extend)
        time.sleep(0.5)
    finally:
        transport.stop()
    assert taken == []


# --- ephemeral events: every process, in order, at most once, never stored ---------------------


def _chunk(index: int, message_id: str = "m") -> MessageStreamChunk:
    return MessageStreamChunk(
        channel_id="c", message_id=message_id, agent_id="a", chunk=f"piece {index} ✓", index=index
    )


def test_ephemeral_events_reach_other_processes_in_order_and_are_never_stored(
    transports: Callable[..., RedisStreamTransport], published: Published, stream: str, redis_url
) -> None:
    writer = transports(listen=False, consumer="writer")
    transports(consumer="reader")
    chunks = [_chunk(index) for index in range(500)]

    for chunk in chunks:
        writer.send_ephemeral(chunk)

    _wait_for(lambda: len(published.of(MessageStreamChunk)) == len(chunks))
    assert published.of(MessageStreamChunk) == chunks
    client = redis.Redis.from_url(redis_url)
    assert client.exists(stream) == 0, "an ephemeral event is never a stream entry"
    client.close()


def test_a_malformed_ephemeral_message_is_dropped(
    transports: Callable[..., RedisStreamTransport], published: Published, redis_url
) -> None:
    reader = transports(consumer="reader")
    client = redis.Redis.from_url(redis_url)
    client.publish(reader.ephemeral_channel, b"not json")
    client.publish(reader.ephemeral_channel, b'{"event": "new_message", "data": {}}')
    client.close()
    reader.send_ephemeral(_chunk(0))

    _wait_for(lambda: published.of(MessageStreamChunk) == [_chunk(0)])
    assert published.of(NewMessage) == []
