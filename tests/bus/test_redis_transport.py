"""The Redis transport against a real Redis: events cross through the stream unchanged, a named
consumer resumes where it stopped, an unnamed one starts at the end, bad entries are skipped."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from elizabus.bus.events import ChannelCleared, MessageError, NewMessage
from elizabus.bus.transports.redis import RedisStreamTransport
from tests.conftest import Published

pytestmark = pytest.mark.redis


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


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.fixture
def stream(settings, redis_url: str) -> Iterator[str]:
    name = f"elizabus-test:{uuid.uuid4()}"
    settings.ELIZABUS = {**settings.ELIZABUS, "BUS_STREAM": name}
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name, *client.keys(f"{name}:*"))
    client.close()


@pytest.fixture
def transports(redis_url: str, stream: str) -> Iterator[Callable[..., RedisStreamTransport]]:
    made: list[RedisStreamTransport] = []

    def make(*, listen: bool = True) -> RedisStreamTransport:
        transport = RedisStreamTransport(redis_url, listen=listen)
        transport.start()
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.stop()


def test_an_event_crosses_the_stream_unchanged(transports, published: Published) -> None:
    transport = transports()
    event = _message("hello")
    transport.send(event)
    transport.send(ChannelCleared(channel_id=event.channel_id, message_count=3))
    _wait_for(lambda: len(published.events) == 2)
    assert published.events == [event, ChannelCleared(channel_id=event.channel_id, message_count=3)]


def test_an_unnamed_reader_starts_at_the_end(transports, published: Published) -> None:
    sender = transports(listen=False)
    sender.send(_message("before"))
    transports()
    after = _message("after")
    sender.send(after)
    _wait_for(lambda: bool(published.events))
    time.sleep(0.2)
    assert published.events == [after]


def test_a_named_consumer_resumes_where_it_stopped(
    settings, transports, published: Published
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "BUS_CONSUMER": "worker-1"}
    worker = transports()
    first = _message("first")
    worker.send(first)
    _wait_for(lambda: published.events == [first])
    worker.stop()

    sender = transports(listen=False)
    missed = [_message(f"missed {n}") for n in range(3)]
    for event in missed:
        sender.send(event)
    transports()  # the worker, restarted
    _wait_for(lambda: len(published.events) == 4)
    assert published.events == [first, *missed]


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
    transports(listen=False).send(good)
    _wait_for(lambda: bool(published.events))
    assert published.events == [good]
