"""Test doubles for the protocol layers: a WebSocket link and handlers that record what they get."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FakeLink:
    """A :class:`~elizabus.realtime.engineio.WebSocketLink` that records frames and its close."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed_with: int | None = None
        self.changed = asyncio.Event()

    async def send(self, text_data: str | None = None) -> None:
        self.frames.append(text_data)
        self.changed.set()

    async def close(self, code: int | None = None) -> None:
        self.closed_with = code
        self.changed.set()

    async def next_frame(self, timeout: float = 2.0) -> str:
        while not self.frames:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout)
        return self.frames.pop(0)


class RecordingHandler:
    """A session handler (the Socket.IO layer's seat) that records messages and the close."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.closed: list[str] = []

    async def on_message(self, data: str | bytes) -> None:
        self.messages.append(data)

    async def on_close(self, reason: str) -> None:
        self.closed.append(reason)


class EchoNamespace:
    """A minimal application: accepts ``{"token": "ok"}``, echoes events, records the rest."""

    def __init__(self) -> None:
        self.socket: Any = None
        self.events: list[tuple[str, list[Any]]] = []
        self.refused: list[str] = []
        self.disconnects: list[str] = []

    async def authenticate(self, auth: Any) -> None:
        from elizabus.realtime.socketio import ConnectionRefused

        if not isinstance(auth, dict) or auth.get("token") != "ok":
            raise ConnectionRefused("bad token")

    async def on_connect(self) -> None:
        await self.socket.emit("welcome", {"sid": self.socket.sid})

    async def on_event(self, event: str, args: list[Any]) -> Any:
        self.events.append((event, args))
        if event == "pair":
            return ("a", "b")
        return {"echo": args}

    async def on_refused(self, reason: str) -> None:
        self.refused.append(reason)

    async def on_disconnect(self, reason: str) -> None:
        self.disconnects.append(reason)


class SioClient:
    """A Socket.IO client over Channels' ``WebsocketCommunicator`` (WebSocket-only transport)."""

    def __init__(
        self,
        application: Any,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        client: str | None = None,
    ):
        from channels.testing import WebsocketCommunicator

        self.ws = WebsocketCommunicator(
            application, "/socket.io/?EIO=4&transport=websocket", headers=headers or []
        )
        if client is not None:
            # The peer's address, as the server sees it.
            self.ws.scope["client"] = (client, 40000)
        self.handshake: dict[str, Any] = {}
        self.sid = ""

    async def open(self) -> None:
        connected, _ = await self.ws.connect()
        assert connected
        opened = await self.ws.receive_from()
        assert opened[0] == "0"
        self.handshake = json.loads(opened[1:])

    async def connect(self, auth: dict[str, Any]) -> str:
        """Opens the session and sends CONNECT; returns ``"ok"`` or the connect_error message."""
        await self.open()
        await self.ws.send_to(text_data="40" + json.dumps(auth))
        answer = await self.ws.receive_from()
        if answer.startswith("44"):
            return json.loads(answer[2:])["message"]
        assert answer.startswith("40"), answer
        self.sid = json.loads(answer[2:])["sid"]
        return "ok"

    async def emit(self, event: str, *args: Any) -> None:
        await self.ws.send_to(text_data="42" + json.dumps([event, *args]))

    async def event(self, timeout: float = 2.0) -> tuple[str, Any]:
        """The next event, answering the server's pings on the way."""
        while True:
            frame = await self.ws.receive_from(timeout)
            if frame == "2":
                await self.ws.send_to(text_data="3")
                continue
            assert frame.startswith("42"), frame
            name, *args = json.loads(frame[2:])
            return name, args[0] if args else None

    async def expect(self, name: str, timeout: float = 2.0) -> Any:
        got, data = await self.event(timeout)
        assert got == name, (got, data)
        return data

    async def silent(self, timeout: float = 0.2) -> bool:
        return await self.ws.receive_nothing(timeout)

    async def close(self) -> None:
        # A receive that timed out has already cancelled the application.
        if not self.ws.future.done():
            await self.ws.disconnect()
