"""ASGI applications for the Socket.IO benchmarks (bench/fanout.py, bench/idle_memory.py).

Nothing here is used by the project. Served by the same server as elizabus (``manage.py serve
--app``, or the one ``--asgi-server`` names) from bench/ (on PYTHONPATH), as
``realtime_apps:<name>``:

``raw_application``
    A hand-written ASGI WebSocket app that speaks just enough Engine.IO v4 /
    Socket.IO v5 for socket.io-client to connect, join and send (OPEN, CONNECT,
    ``channel_joined``, ``messageBroadcast`` to the room, echo + ``messageAck``; nothing stored),
    keeping one small dict per socket and rooms as sets of ASGI ``send`` callables. No Django,
    no Channels: what the server alone costs per connection and per delivery.
``channels_application``
    The same protocol in a Channels ``AsyncWebsocketConsumer``: rooms are Channels groups on the
    in-memory layer and a broadcast is one ``group_send`` of the encoded frame, as in elizabus
    (no Django models, no database): what Channels adds.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from typing import Any

PING_INTERVAL_MS = 25000
PING_TIMEOUT_MS = 20000

# BENCH_TRACEMALLOC=1 (the two baselines only): trace Python allocations from import on;
# GET /__bench_tm_mark remembers a snapshot, GET /__bench_tm_diff answers what was allocated
# since, by file (bench/idle_memory.py --tracemalloc).
_tm_mark: Any = None
if os.environ.get("BENCH_TRACEMALLOC") == "1":
    import tracemalloc

    tracemalloc.start(1)


async def _tracemalloc_endpoint(path: str, send: Any) -> bool:
    global _tm_mark
    if path not in ("/__bench_tm_mark", "/__bench_tm_diff"):
        return False
    import gc
    import tracemalloc

    body: Any = {"tracing": tracemalloc.is_tracing()}
    if tracemalloc.is_tracing():
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        if path == "/__bench_tm_mark":
            _tm_mark = snapshot
        elif _tm_mark is not None:
            stats = snapshot.compare_to(_tm_mark, "filename")
            body["total"] = sum(stat.size_diff for stat in stats)
            body["top"] = [
                {
                    "file": str(stat.traceback[0].filename),
                    "bytes": stat.size_diff,
                    "blocks": stat.count_diff,
                }
                for stat in stats[:25]
            ]
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    return True


def _open_packet(sid: str) -> str:
    return "0" + json.dumps(
        {
            "sid": sid,
            "upgrades": [],
            "pingInterval": PING_INTERVAL_MS,
            "pingTimeout": PING_TIMEOUT_MS,
            "maxPayload": 1_000_000,
        }
    )


def _event(name: str, data: Any) -> str:
    return "42" + json.dumps([name, data], separators=(",", ":"))


class Reply:
    """What one received frame asks of the server."""

    __slots__ = ("broadcast", "channel", "frames", "join")

    def __init__(self) -> None:
        self.frames: list[str] = []  # to this socket
        self.join: str | None = None  # a channel id to join
        self.channel: str | None = None  # a channel to broadcast to...
        self.broadcast: str | None = None  # ...this frame (the other sockets of the channel)


def _answers(frame: str, state: dict[str, Any]) -> Reply:
    """The minimal Socket.IO server: CONNECT, ROOM_JOINING and SEND_MESSAGE (stored nowhere:
    the broadcast is encoded once, then the sender gets its echo and ``messageAck``)."""
    reply = Reply()
    if frame.startswith("40"):  # Socket.IO CONNECT with auth
        state["sid"] = secrets.token_urlsafe(15)
        reply.frames += [
            "40" + json.dumps({"sid": state["sid"]}),
            _event("authenticated", {"entityId": "", "timestamp": int(time.time() * 1000)}),
            _event("connection_established", {"message": "ok", "socketId": state["sid"]}),
        ]
    elif frame.startswith("42"):
        try:
            name, *args = json.loads(frame[2:])
        except ValueError:
            return reply
        payload = args[0] if args else {}
        if name == "message" and isinstance(payload, dict):
            kind, payload = payload.get("type"), payload.get("payload")
        else:
            kind = {"1": 1, "2": 2}.get(name)
        if not isinstance(payload, dict):
            return reply
        channel = str(payload.get("channelId") or payload.get("roomId"))
        if kind == 1:
            joined = {"message": "joined", "channelId": channel, "roomId": channel}
            reply.join = channel
            reply.frames += [_event("channel_joined", joined), _event("room_joined", joined)]
        elif kind == 2:
            message_id = str(uuid.uuid4())
            data = {
                "id": message_id,
                "senderId": payload.get("senderId"),
                "senderName": payload.get("senderName"),
                "text": payload.get("message"),
                "channelId": channel,
                "roomId": channel,
                "messageServerId": payload.get("messageServerId"),
                "createdAt": int(time.time() * 1000),
                "source": payload.get("source"),
            }
            reply.channel, reply.broadcast = channel, _event("messageBroadcast", data)
            client_id = payload.get("messageId")
            reply.frames += [
                _event("messageBroadcast", {**data, "clientMessageId": client_id}),
                _event(
                    "messageAck",
                    {
                        "clientMessageId": client_id,
                        "messageId": message_id,
                        "status": "received_by_server_and_processing",
                        "channelId": channel,
                        "roomId": channel,
                    },
                ),
            ]
    return reply


# Process-local rooms of raw_application: channel id -> the ASGI send callables of its sockets.
_rooms: dict[str, set[Any]] = {}


async def raw_application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Daphne alone: one coroutine per socket, one dict of state, rooms as sets of ``send``
    callables (a broadcast is one encode and one ``send`` per socket)."""
    if scope["type"] != "websocket":
        if scope["type"] == "http":
            if await _tracemalloc_endpoint(scope["path"], send):
                return
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        return
    state: dict[str, Any] = {}
    joined: list[str] = []
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send(
                    {"type": "websocket.send", "text": _open_packet(secrets.token_urlsafe(15))}
                )
            elif kind == "websocket.receive":
                reply = _answers(message.get("text") or "", state)
                if reply.join is not None:
                    _rooms.setdefault(reply.join, set()).add(send)
                    joined.append(reply.join)
                if reply.broadcast is not None:
                    out = {"type": "websocket.send", "text": reply.broadcast}
                    for other in list(_rooms.get(reply.channel, ())):
                        if other is not send:
                            await other(out)
                for frame in reply.frames:
                    await send({"type": "websocket.send", "text": frame})
            elif kind == "websocket.disconnect":
                return
    finally:
        for channel in joined:
            _rooms.get(channel, set()).discard(send)


def _channels_app() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
            INSTALLED_APPS=["channels"],
        )
        django.setup()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    class MinimalSocketIOConsumer(AsyncWebsocketConsumer):
        """The same protocol on Channels: rooms are Channels groups on the in-memory layer, a
        broadcast is one ``group_send`` of the encoded frame (as elizabus does)."""

        async def connect(self) -> None:
            self.state: dict[str, Any] = {}
            await self.accept()
            await self.send(text_data=_open_packet(secrets.token_urlsafe(15)))

        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
            reply = _answers(text_data or "", self.state)
            if reply.join is not None:
                await self.channel_layer.group_add(f"channel.{reply.join}", self.channel_name)
            if reply.broadcast is not None:
                await self.channel_layer.group_send(
                    f"channel.{reply.channel}",
                    {"type": "socket.emit", "frame": reply.broadcast, "origin": self.channel_name},
                )
            for frame in reply.frames:
                await self.send(text_data=frame)

        async def socket_emit(self, message: dict[str, Any]) -> None:
            if message["origin"] != self.channel_name:
                await self.send(text_data=message["frame"])

    return ProtocolTypeRouter(
        {
            "http": raw_application,
            "websocket": URLRouter([path("socket.io/", MinimalSocketIOConsumer.as_asgi())]),
        }
    )


def __getattr__(name: str) -> Any:
    # Built on first access, so that one module serves every variant without importing Django
    # for the raw one.
    if name == "channels_application":
        app = _channels_app()
    else:
        raise AttributeError(name)
    globals()[name] = app
    return app
