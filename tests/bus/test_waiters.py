"""Waiters get the events of their own key only, from any thread, and leave nothing behind: an
event costs a lookup however many requests wait, and no request connects a receiver."""

from __future__ import annotations

import asyncio
import threading
import uuid

from elizabus.bus import dispatch
from elizabus.bus.events import MessageComplete, MessageError, NewMessage
from elizabus.bus.waiters import WaiterRegistry


def _reply(to: str) -> NewMessage:
    return NewMessage(
        id=str(uuid.uuid4()),
        channel_id="c",
        message_server_id="s",
        author_id="agent",
        content="hi",
        in_reply_to_message_id=to,
        created_at=1,
    )


def _registry() -> WaiterRegistry:
    return WaiterRegistry(
        f"test-{uuid.uuid4().hex}",
        {
            NewMessage: lambda event: event.in_reply_to_message_id,
            MessageError: lambda event: event.message_id,
            MessageComplete: lambda event: event.message_id,
        },
    )


def test_a_waiter_gets_the_events_of_its_key_only() -> None:
    registry = _registry()
    with registry.waiter("m1") as mine, registry.waiter("m2") as other:
        dispatch.dispatch_local(_reply("m2"))
        dispatch.dispatch_local(_reply("m1"))
        dispatch.dispatch_local(
            MessageError(message_id="m1", channel_id="c", agent_id="agent", error="boom")
        )
        dispatch.dispatch_local(_reply(""))  # a message that answers nothing
        first, second = mine.get(1), mine.get(1)
        assert isinstance(first, NewMessage) and first.in_reply_to_message_id == "m1"
        assert isinstance(second, MessageError) and second.error == "boom"
        assert mine.get(0.05) is None
        assert other.get(1).in_reply_to_message_id == "m2"


def test_waiters_connect_no_receivers_of_their_own_and_leave_none_behind() -> None:
    registry = _registry()
    registry.waiter("warm-up").close()
    before = dispatch.receiver_count(NewMessage)
    waiters = [registry.waiter(str(n)) for n in range(1000)]
    assert dispatch.receiver_count(NewMessage) == before
    assert registry.waiting() == 1000
    for waiter in waiters:
        waiter.close()
    assert registry.waiting() == 0
    dispatch.dispatch_local(_reply("7"))  # nobody waits: nothing to do, nothing kept


def test_two_waiters_of_one_key_both_get_the_event() -> None:
    registry = _registry()
    with registry.waiter("m") as first, registry.waiter("m") as second:
        dispatch.dispatch_local(
            MessageComplete(channel_id="c", message_server_id="s", message_id="m")
        )
        assert isinstance(first.get(1), MessageComplete)
        assert isinstance(second.get(1), MessageComplete)


async def test_a_waiter_on_the_loop_wakes_for_an_event_from_another_thread() -> None:
    registry = _registry()
    with registry.waiter("m") as waiter:
        thread = threading.Timer(0.05, dispatch.dispatch_local, args=(_reply("m"),))
        thread.start()
        event = await waiter.aget(2)
        thread.join()
        assert isinstance(event, NewMessage)
        assert await waiter.aget(0.05) is None


async def test_a_closed_waiter_gets_nothing_more() -> None:
    registry = _registry()
    waiter = registry.waiter("m")
    waiter.close()
    dispatch.dispatch_local(_reply("m"))
    assert await asyncio.wait_for(waiter.aget(0.05), 1) is None
