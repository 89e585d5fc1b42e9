"""Broadcasts made on other threads (agent workers, the database thread) reach the sockets on
the server's loop at once, and in the order they were made."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from channels.layers import get_channel_layer

from elizabus.realtime import broadcast

CHANNEL = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture(autouse=True)
def _no_outbox_left() -> Iterator[None]:
    yield
    broadcast.stop_broadcast_loop()
    broadcast._outbox = None


async def test_broadcasts_from_threads_are_sent_on_the_server_loop_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer = get_channel_layer()
    server_loop = asyncio.get_running_loop()
    broadcast.attach_server_loop(server_loop)
    sent_on: list[asyncio.AbstractEventLoop] = []
    group_send = layer.group_send

    async def recording_group_send(group: str, message: dict) -> None:
        # Another loop than the server's would touch the layer's queues without waking it.
        sent_on.append(asyncio.get_running_loop())
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    listener = await layer.new_channel()
    await layer.group_add(broadcast.channel_group(CHANNEL), listener)

    def worker(name: str) -> None:
        for n in range(20):
            broadcast.emit_to_channel(CHANNEL, {"type": "socket.emit", "who": name, "n": n})

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    received = [await asyncio.wait_for(layer.receive(listener), 2) for _ in range(40)]
    for thread in threads:
        thread.join(5)

    assert sent_on == [server_loop] * 40
    for name in ("a", "b"):
        assert [m["n"] for m in received if m["who"] == name] == list(range(20))


async def test_a_worker_sends_its_broadcasts_on_one_loop_of_its_own() -> None:
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(broadcast.channel_group(CHANNEL), listener)
    broadcast.start_broadcast_loop()
    threads_before = threading.active_count()

    def agent_thread() -> list[object]:
        return [
            broadcast.emit_to_channel(CHANNEL, {"type": "socket.emit", "n": n}) for n in range(20)
        ]

    futures = await asyncio.to_thread(agent_thread)
    await asyncio.wait_for(asyncio.gather(*map(asyncio.wrap_future, futures)), 5)
    received = [await asyncio.wait_for(layer.receive(listener), 2) for _ in range(20)]
    assert [message["n"] for message in received] == list(range(20))
    # No thread (nor loop, nor connection to the layer) per broadcast.
    assert threading.active_count() <= threads_before + 1
    await asyncio.to_thread(broadcast.stop_broadcast_loop)
    assert "broadcasts" not in {thread.name for thread in threading.enumerate()}
