"""Socket.IO v5 on an Engine.IO session: the default namespace, events, acknowledgements.

:class:`Socket` is the Engine.IO session's handler. It decodes Socket.IO packets with
python-socketio's codec and turns them into calls on a :class:`Namespace` (the elizaOS socket
router): ``authenticate`` on CONNECT, ``on_event`` for each EVENT (its return value is the ACK),
``on_disconnect`` once at the end. A refused CONNECT is answered CONNECT_ERROR; a packet that does
not decode, or comes in the wrong state, closes the connection, as the socket.io server does.
Binary packets are refused without closing: nothing in elizaOS sends them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Protocol

from socketio import packet as sio

from .engineio import CLOSE_PROTOCOL_ERROR, Session, spawn

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "/"


class ConnectionRefused(Exception):
    """Raised by :meth:`Namespace.authenticate`; the client's ``connect_error`` gets ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Namespace(Protocol):
    """The application side of one connected socket."""

    async def authenticate(self, auth: Any) -> None:
        """Checks the CONNECT packet's auth payload; raises :class:`ConnectionRefused`."""

    async def on_connect(self) -> None:
        """The client has its CONNECT answer; the namespace may emit."""

    async def on_event(self, event: str, args: list[Any]) -> Any:
        """One event; a non-None result (a tuple for several values) is the acknowledgement."""

    async def on_refused(self, reason: str) -> None:
        """A packet was refused without closing the connection (a binary event)."""

    async def on_disconnect(self, reason: str) -> None:
        """The socket is gone; called once for each ``authenticate`` that did not refuse."""


def encode_event(event: str, *args: Any) -> str:
    """An EVENT packet for the default namespace, ready for :meth:`Socket.send_frame`.

    Encoding once and sending the text to many sockets spares each of them a JSON dump.
    """
    return sio.Packet(sio.EVENT, data=[event, *args], binary=False).encode()


def _decode(data: str) -> sio.Packet | None:
    if not data:
        return None
    try:
        packet = sio.Packet(encoded_packet=data)
    except (ValueError, TypeError, IndexError, RecursionError):
        return None
    if not isinstance(packet.packet_type, int) or not 0 <= packet.packet_type <= sio.BINARY_ACK:
        return None
    return packet


def _is_event(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)


def _ack_args(result: Any) -> list[Any]:
    if result is None:
        return []
    return list(result) if isinstance(result, tuple) else [result]


class Socket:
    """The server side of one client's default namespace, on one Engine.IO session."""

    __slots__ = ("_connect_timer", "connected", "namespace", "session", "sid")

    def __init__(self, session: Session, namespace: Namespace, *, connect_timeout: float) -> None:
        self.session = session
        self.namespace = namespace
        # The Socket.IO id the client sees as ``socket.id``; distinct from the Engine.IO sid.
        self.sid = secrets.token_urlsafe(15)
        self.connected = False
        # socket.io's connectTimeout: a session that never connects a namespace is closed.
        self._connect_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            connect_timeout, lambda: spawn(session.close("connect timeout"))
        )

    # --- Engine.IO handler ----------------------------------------------------------------------

    async def on_message(self, data: str | bytes) -> None:
        if not isinstance(data, str):
            # A binary attachment: its BINARY_EVENT header was already refused.
            return
        packet = _decode(data)
        if packet is None:
            await self.session.close("parse error", code=CLOSE_PROTOCOL_ERROR)
            return
        kind = packet.packet_type
        namespace = packet.namespace or DEFAULT_NAMESPACE
        if kind == sio.CONNECT and namespace != DEFAULT_NAMESPACE:
            await self._send(sio.CONNECT_ERROR, {"message": "Invalid namespace"}, namespace)
        elif kind == sio.CONNECT and not self.connected:
            await self._connect(packet.data)
        elif (
            namespace != DEFAULT_NAMESPACE
            or not self.connected
            or kind
            in (
                sio.CONNECT,
                sio.CONNECT_ERROR,
            )
        ):
            await self.session.close("invalid state", code=CLOSE_PROTOCOL_ERROR)
        elif kind == sio.EVENT:
            if not _is_event(packet.data):
                await self.session.close("parse error", code=CLOSE_PROTOCOL_ERROR)
                return
            result = await self.namespace.on_event(packet.data[0], packet.data[1:])
            if packet.id is not None and self.connected:
                await self._send(sio.ACK, _ack_args(result), packet_id=packet.id)
        elif kind == sio.DISCONNECT:
            await self._end("client namespace disconnect")
            await self.session.close("client namespace disconnect")
        elif kind in (sio.BINARY_EVENT, sio.BINARY_ACK):
            await self.namespace.on_refused("Binary payloads are not supported")
        # An ACK: the server never asks the client for one, so there is nothing to resolve.

    async def on_close(self, reason: str) -> None:
        self._cancel_connect_timer()
        await self._end(reason)

    # --- sending --------------------------------------------------------------------------------

    async def emit(self, event: str, *args: Any) -> None:
        """Sends one event to this client."""
        await self.send_frame(encode_event(event, *args))

    async def send_frame(self, frame: str) -> None:
        """Sends a packet made by :func:`encode_event`, if the client is connected."""
        if self.connected:
            await self.session.send_message(frame)

    async def disconnect(self) -> None:
        """Server-side disconnect: the client sees ``io server disconnect`` and does not retry."""
        if self.connected:
            await self._send(sio.DISCONNECT, None)
            await self._end("server namespace disconnect")
        await self.session.close("server namespace disconnect")

    # --- internals ------------------------------------------------------------------------------

    async def _connect(self, auth: Any) -> None:
        try:
            await self.namespace.authenticate(auth)
        except ConnectionRefused as refusal:
            await self._send(sio.CONNECT_ERROR, {"message": refusal.message})
            return
        if self.session.closed:
            # Gone while authenticating: the namespace still gets its one disconnect.
            await self.namespace.on_disconnect("transport close")
            return
        self._cancel_connect_timer()
        self.connected = True
        await self._send(sio.CONNECT, {"sid": self.sid})
        await self.namespace.on_connect()

    async def _end(self, reason: str) -> None:
        if self.connected:
            self.connected = False
            await self.namespace.on_disconnect(reason)

    async def _send(
        self,
        kind: int,
        data: Any,
        namespace: str | None = None,
        packet_id: int | None = None,
    ) -> None:
        packet = sio.Packet(kind, data=data, namespace=namespace, id=packet_id, binary=False)
        await self.session.send_message(packet.encode())

    def _cancel_connect_timer(self) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
