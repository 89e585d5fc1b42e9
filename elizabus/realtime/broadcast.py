"""From the bus to the sockets: receivers that push each bus event to its channel's group.

Every channel has one Channels group, named by :func:`channel_group` alone. A group message has
``type`` ``socket.emit`` (handed to the sockets by ``rooms.py``) and carries the Socket.IO
packet already encoded, so a broadcast is serialised once however many sockets receive it:

``{"type": "socket.emit", "channel": <channel id>, "frame": <EVENT packet>,
"message_id": <message id, for messageBroadcast>, "origin": <Socket.IO sid of the sender>,
"event_id": <the bus event's outbox id, 0 for none>, "seq": <the new message's seq, 0 for
none>}``

A bus event is delivered at least once, so the rooms drop a group message whose ``event_id``
they have handed out before (rooms.py).

A reply's stream chunks (``messageStreamChunk``, ``messageStreamError``) are ephemeral bus
events, which reach every process's ``EACH`` receivers when the transport shares events
(Redis): each process then hands them to its own sockets straight from its loop, without the
channel layer. With a transport of one process they cross the channel layer like the rest.
Either way they go out in the order they came, before the stored reply's broadcast that the same
agent published after them (docs/realtime.md, "Streamed replies").

The receivers are connected in :mod:`elizabus.wiring`. They run after commit, in whatever
thread committed; a receiver that runs inside an event loop schedules the send instead of
blocking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from concurrent.futures import Future
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.utils.module_loading import import_string

from elizabus import breakers
from elizabus.backoff import Backoff
from elizabus.bus.events import (
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageComplete,
    MessageDeleted,
    MessageError,
    MessageStreamChunk,
    MessageStreamError,
    MessageUpdated,
    NewMessage,
)
from elizabus.bus.transports import get_transport

from .engineio import spawn
from .socketio import encode_event

logger = logging.getLogger(__name__)

SOCKET_EMIT = "socket.emit"
# How long a broadcast is tried again while the channel layer is unreachable (a Redis restart,
# an outage): the sockets get late what they would otherwise never get.
RETRY_SECONDS = 60.0
# One group send's deadline. The layer's connections read for up to 15 s (its receive is a
# blocking pop); a send answers in milliseconds, and one that hangs must not hold the broadcasts
# queued behind it, or a socket's join, for that long (docs/deployment.md, "Deadlines").
GROUP_SEND_TIMEOUT = 1.0


async def group_send(group: str, message: dict[str, Any]) -> None:
    """The layer's ``group_send``, given up after :data:`GROUP_SEND_TIMEOUT` (TimeoutError)."""
    layer = get_channel_layer()
    if layer_is_shared():
        with breakers.redis.timed():
            await asyncio.wait_for(layer.group_send(group, message), GROUP_SEND_TIMEOUT)
    else:
        await asyncio.wait_for(layer.group_send(group, message), GROUP_SEND_TIMEOUT)


def layer_is_shared() -> bool:
    """Whether the configured channel layer reaches other processes (Redis does; the in-memory
    layer is this process's own)."""
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return bool(backend) and not issubclass(import_string(str(backend)), InMemoryChannelLayer)


def channel_group(channel_id: uuid.UUID | str) -> str:
    """The Channels group of a channel's sockets: the one place its name is made."""
    return f"channel.{channel_id}"


def message_broadcast(event: NewMessage) -> dict[str, Any]:
    """The ``messageBroadcast`` payload of a stored message, whatever stored it.

    Carries both ``channelId`` and ``roomId``, and both ``serverId`` and ``messageServerId``
    (the reference's leaves some out, depending on what stored the message), and the agent's
    ``thought``/``actions`` when its raw message has them. Not the stored metadata: it holds the
    sender's socket id, which is nobody else's business.
    """
    metadata = event.metadata or {}
    raw = event.raw_message if isinstance(event.raw_message, dict) else {}
    payload: dict[str, Any] = {
        "id": event.id,
        "senderId": event.author_id,
        "senderName": event.author_display_name or metadata.get("user_display_name") or "",
        "text": event.content,
        "channelId": event.channel_id,
        "roomId": event.channel_id,
        "serverId": event.message_server_id,
        "messageServerId": event.message_server_id,
        "createdAt": event.created_at,
        "source": event.source_type,
        "sourceId": event.source_id,
        "inReplyToMessageId": event.in_reply_to_message_id,
        "attachments": metadata.get("attachments") or raw.get("attachments") or [],
        # Not the reference's: the message's place in its channel (docs/realtime.md, "Offsets").
        "seq": event.seq,
    }
    for key in ("thought", "actions"):
        if key in raw:
            payload[key] = raw[key]
    return payload


def group_message(
    event_name: str,
    data: dict[str, Any],
    *,
    channel_id: str,
    message_id: str = "",
    origin: str = "",
    event_id: int = 0,
    seq: int = 0,
) -> dict[str, Any]:
    """A ``socket.emit`` group message (the shape is in this module's docstring)."""
    return {
        "type": SOCKET_EMIT,
        "channel": channel_id,
        "frame": encode_event(event_name, data),
        "message_id": message_id,
        "origin": origin,
        "event_id": event_id,
        "seq": seq,
    }


class _LoopSender:
    """Group messages waiting to be sent on the server's loop, in the order they were made."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, dict[str, Any], Future[None]]] = asyncio.Queue()
        self.sender = loop.create_task(self._send_all())

    @property
    def usable(self) -> bool:
        return self.loop.is_running() and not self.loop.is_closed()

    def put(self, group: str, message: dict[str, Any]) -> Future[None]:
        """Queues a group message; the Future resolves once it is sent (or was given up). The
        group :data:`HERE` means this process's own sockets, without the channel layer."""
        sent: Future[None] = Future()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.queue.put_nowait((group, message, sent))
        else:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (group, message, sent))
        return sent

    async def _send_all(self) -> None:
        while True:
            group, message, sent = await self.queue.get()
            try:
                await self._send(group, message)
            except Exception as exc:
                sent.set_exception(exc)
            else:
                sent.set_result(None)
            self.queue.task_done()

    async def _send(self, group: str, message: dict[str, Any]) -> None:
        """Sends one group message, trying again while the layer (Redis) is unreachable, for up
        to :data:`RETRY_SECONDS`; the ones behind it wait, so the order holds."""
        if group == HERE:
            # rooms.py imports this module for the group message's shape; hence not at the top.
            from .rooms import local_rooms

            await local_rooms().hand_out(message)
            return
        deadline = self.loop.time() + RETRY_SECONDS
        backoff = Backoff(first=0.1, cap=2.0)
        while True:
            if not breakers.redis.allow() and layer_is_shared():
                # Redis is down: wait in the queue, in order, rather than time out at it; a
                # broadcast not sent by the deadline is left to the relay (its event stays
                # unsent).
                if self.loop.time() > deadline:
                    raise TimeoutError(f"a broadcast to {group} waited for Redis; given up")
                await asyncio.sleep(breakers.PROBE_INTERVAL / 2)
                continue
            try:
                await group_send(group, message)
                logger.debug(
                    "broadcast to %s sent: event %s (message %s)",
                    group,
                    message.get("event_id"),
                    message.get("message_id") or "-",
                )
                return
            except Exception as exc:
                if layer_is_shared():
                    breakers.redis.failed(exc)
                delay = backoff.failed()
                if self.loop.time() + delay > deadline:
                    logger.exception("a broadcast to %s failed; given up", group)
                    raise
                logger.warning("a broadcast to %s failed; trying again", group, exc_info=True)
                await asyncio.sleep(delay)


# The group of :meth:`_LoopSender.put` that stands for this process's sockets.
HERE = ""

_outbox: _LoopSender | None = None
_broadcast_thread: threading.Thread | None = None


def attach_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called once from the server's loop (elizabus/startup.py): broadcasts from any thread are
    then sent there, in order. Without it (a management command) a broadcast from a thread is
    sent on a loop of its own."""
    global _outbox
    _outbox = _LoopSender(loop)


def start_broadcast_loop(timeout: float = 5.0) -> None:
    """For a process that serves no sockets but broadcasts much (a ``runagents`` worker): a loop
    on a thread of its own carries its broadcasts as a server's loop does, in order, retried
    while the layer is away, over one connection to Redis. Sent on a loop of their own, each
    broadcast made a thread, a loop and a Redis connection. :func:`stop_broadcast_loop` ends
    it."""
    global _broadcast_thread
    loop = asyncio.new_event_loop()

    def run() -> None:
        loop.run_forever()
        loop.close()  # channels-redis closes its connections of this loop here

    _broadcast_thread = threading.Thread(target=run, name="broadcasts", daemon=True)
    _broadcast_thread.start()
    attached: Future[None] = Future()

    def attach() -> None:
        attach_server_loop(loop)
        attached.set_result(None)

    # The outbox's task and queue belong to its loop: it is made there.
    loop.call_soon_threadsafe(attach)
    attached.result(timeout)


def stop_broadcast_loop(timeout: float = 5.0) -> None:
    """Sends what is still queued, for up to ``timeout`` seconds, then ends the loop of
    :func:`start_broadcast_loop`; what is left is the relays' to send again."""
    global _outbox, _broadcast_thread
    outbox, thread = _outbox, _broadcast_thread
    if outbox is None or thread is None:
        return
    _outbox = _broadcast_thread = None

    async def finish() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outbox.queue.join(), timeout)
        outbox.sender.cancel()
        outbox.loop.stop()

    outbox.loop.call_soon_threadsafe(lambda: outbox.loop.create_task(finish()))
    thread.join(timeout + 5)


def emit_to_channel(channel_id: str, message: dict[str, Any]) -> Future[None] | None:
    """Sends a group message to the channel's sockets, from sync or async code; a Future when
    it goes out later, on the server's loop (the bus marks its event sent once it is done).

    From another thread it must not use ``async_to_sync``: that makes a new event loop in the
    thread, which touches the in-memory layer's queues without waking the server's loop (agent
    replies reached sockets up to 0.85 s late) and holds a database thread while it waits.
    """
    layer = get_channel_layer()
    if layer is None:
        return None
    group = channel_group(channel_id)
    if _outbox is not None and _outbox.usable:
        return _outbox.put(group, message)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(group_send)(group, message)
        return None
    spawn(group_send(group, message))
    return None


# --- bus receivers (connected in elizabus.wiring) ---------------------------------------------


def on_new_message(
    sender: object, event: NewMessage, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``new_message`` → ``messageBroadcast``."""
    return emit_to_channel(event.channel_id, new_message_group_message(event, event_id))


def new_message_group_message(event: NewMessage, event_id: int = 0) -> dict[str, Any]:
    """The ``messageBroadcast`` group message of a stored message; the socket that sent it
    already has its own copy (with ``clientMessageId``), which ``origin`` tells it."""
    origin = (event.metadata or {}).get("socket_id") or ""
    return group_message(
        "messageBroadcast",
        message_broadcast(event),
        channel_id=event.channel_id,
        message_id=event.id,
        origin=origin if isinstance(origin, str) else "",
        event_id=event_id,
        seq=event.seq,
    )


def on_message_updated(
    sender: object, event: MessageUpdated, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``message_updated`` → ``messageBroadcast`` again, same id, to every socket."""
    return _forward("messageBroadcast", event.channel_id, message_broadcast(event), event_id)


def on_message_deleted(
    sender: object, event: MessageDeleted, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``message_deleted`` → ``messageDeleted {messageId, channelId}``."""
    return _forward("messageDeleted", event.channel_id, event.payload(), event_id)


def on_channel_cleared(
    sender: object, event: ChannelCleared, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``channel_cleared`` → ``channelCleared {channelId}``, unless the channel is being deleted
    (``channelDeleted`` follows)."""
    if event.channel_deleted:
        return None
    return _forward("channelCleared", event.channel_id, event.payload(), event_id)


def on_channel_updated(
    sender: object, event: ChannelUpdated, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``channel_updated`` → ``channelUpdated {channelId, updates}``."""
    return _forward("channelUpdated", event.channel_id, event.payload(), event_id)


def on_channel_deleted(
    sender: object, event: ChannelDeleted, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``channel_deleted`` → ``channelDeleted {channelId}``."""
    return _forward("channelDeleted", event.channel_id, event.payload(), event_id)


def on_message_complete(
    sender: object, event: MessageComplete, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``message_complete`` → ``messageComplete {channelId, serverId, messageServerId, …}``."""
    return _forward("messageComplete", event.channel_id, event.payload(), event_id)


def on_message_error(
    sender: object, event: MessageError, event_id: int = 0, **kwargs: Any
) -> Future[None] | None:
    """``message:error`` → ``messageError {messageId, channelId, agentId, error}``."""
    return _forward("messageError", event.channel_id, event.payload(), event_id)


def _forward(
    event_name: str, channel_id: str, data: dict[str, Any], event_id: int
) -> Future[None] | None:
    message = group_message(event_name, data, channel_id=channel_id, event_id=event_id)
    return emit_to_channel(channel_id, message)


def on_message_stream_chunk(sender: object, event: MessageStreamChunk, **kwargs: Any) -> None:
    """``message_stream_chunk`` → ``messageStreamChunk {messageId, chunk, index, agentId,
    channelId}``."""
    _stream_event("messageStreamChunk", event)


def on_message_stream_error(sender: object, event: MessageStreamError, **kwargs: Any) -> None:
    """``message_stream_error`` → ``messageStreamError {messageId, channelId, agentId, error,
    partialText}``."""
    _stream_event("messageStreamError", event)


def _stream_event(event_name: str, event: MessageStreamChunk | MessageStreamError) -> None:
    # No message_id and no event_id: the rooms would take the reply's id for its broadcast's
    # and drop the stored reply that ends the stream.
    message = group_message(event_name, event.payload(), channel_id=event.channel_id)
    if not get_transport().shares_events:
        emit_to_channel(event.channel_id, message)
    elif _outbox is not None and _outbox.usable:
        _outbox.put(HERE, message)
    # Else a process without a loop of its own (a management command) has no sockets to serve.
