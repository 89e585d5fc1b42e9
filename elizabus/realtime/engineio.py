"""Engine.IO v4, the server half, whatever transport carries it.

A :class:`Session` is one client: its sid, its heartbeat, the packets waiting for an HTTP
long-poll and, once a WebSocket carries it, that socket. The consumers feed it what arrives on
the wire and give it their WebSocket; the Socket.IO layer above sees only :class:`SessionHandler`.
Packets are encoded and decoded by python-engineio's codecs, never by hand.

Polling sessions live in :data:`sessions`, this process's registry, because every request of
one connection must find the same session (deployments pin a client to one process).

It knows nothing of Django, Channels or elizabus (the ``realtime-protocol`` contract in
``pyproject.toml``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from engineio import packet as eio
from engineio.payload import Payload

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "4"
POLLING = "polling"
WEBSOCKET = "websocket"
TRANSPORTS = (POLLING, WEBSOCKET)

# WebSocket close codes (RFC 6455): 1000 for a server close or ping timeout, 1002 for a frame or
# packet that does not decode or comes out of place, 1008 for an upgrade probe that timed out,
# 1009 for a frame over ``max_payload``. A refused WebSocket handshake is an HTTP 403.
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009

PROBE = "probe"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The server options announced in the handshake and enforced on each session.

    Defaults are the reference's (socket.io 4), except ``max_payload``: 1 MiB frames
    (``MAX_SOCKET_FRAME_BYTES``).
    """

    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1024 * 1024
    upgrade_timeout: float = 10.0
    # A polling client that stops polling must not make the server hoard its packets.
    max_buffered_packets: int = 1000


class EngineError(Enum):
    """Engine.IO's HTTP errors, as ``(code, message)``; answered 400 (403 for FORBIDDEN)."""

    UNKNOWN_TRANSPORT = (0, "Transport unknown")
    UNKNOWN_SID = (1, "Session ID unknown")
    BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
    BAD_REQUEST = (3, "Bad request")
    FORBIDDEN = (4, "Forbidden")
    UNSUPPORTED_PROTOCOL_VERSION = (5, "Unsupported protocol version")

    @property
    def status(self) -> int:
        return 403 if self is EngineError.FORBIDDEN else 400

    def body(self) -> bytes:
        code, message = self.value
        return json.dumps({"code": code, "message": message}).encode()


class RequestRefused(Exception):
    """A request the protocol refuses: answered ``error.status`` with ``error.body()``."""

    def __init__(self, error: EngineError) -> None:
        super().__init__(error.value[1])
        self.error = error


class PacketError(ValueError):
    """A frame or payload that does not decode to valid Engine.IO packets."""


class SessionHandler(Protocol):
    """What the layer above (Socket.IO) receives from a session."""

    async def on_message(self, data: str | bytes) -> None: ...

    async def on_close(self, reason: str) -> None: ...


class WebSocketLink(Protocol):
    """A WebSocket a session can write to; Channels' ``AsyncWebsocketConsumer`` is one as is."""

    async def send(self, text_data: str | None = None) -> None: ...

    async def close(self, code: int | None = None) -> None: ...


_background: set[asyncio.Task[Any]] = set()


def spawn(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Runs ``coroutine`` in the background from synchronous code (a timer callback), keeping a
    reference until it ends, as asyncio requires."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


class _Payload(Payload):
    # python-engineio refuses payloads of more than 16 packets, but engine.io-client batches its
    # whole write buffer into one POST; the byte limit (max_payload) is the real bound here.
    max_decode_packets = 10_000


def decode_packet(data: str | bytes) -> eio.Packet:
    """One Engine.IO packet; raises :class:`PacketError` for anything malformed."""
    try:
        packet = eio.Packet(encoded_packet=data)
    except (ValueError, TypeError, IndexError, RecursionError) as exc:
        # python-engineio JSON-decodes text that does not start with a digit, hence recursion.
        raise PacketError(str(exc) or "malformed packet") from exc
    if not 0 <= packet.packet_type <= eio.NOOP:
        raise PacketError(f"unknown packet type {packet.packet_type}")
    return packet


def decode_payload(body: str) -> list[eio.Packet]:
    """The packets of a polling POST body (``\\x1e``-separated)."""
    try:
        packets = _Payload(encoded_payload=body).packets
    except (ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
        raise PacketError(str(exc) or "malformed payload") from exc
    if not packets:
        raise PacketError("empty payload")
    for packet in packets:
        if not 0 <= packet.packet_type <= eio.NOOP:
            raise PacketError(f"unknown packet type {packet.packet_type}")
    return packets


def check_request(query: dict[str, str], *, method: str | None = None) -> tuple[str, str | None]:
    """Validates a request's Engine.IO query (``EIO``, ``transport``, ``sid``); ``method`` is the
    HTTP method, ``None`` for a WebSocket. Returns ``(transport, sid)``."""
    if query.get("EIO") != PROTOCOL_VERSION:
        raise RequestRefused(EngineError.UNSUPPORTED_PROTOCOL_VERSION)
    transport = query.get("transport", "")
    if transport not in TRANSPORTS or (transport == WEBSOCKET) != (method is None):
        raise RequestRefused(EngineError.UNKNOWN_TRANSPORT)
    sid = query.get("sid") or None
    if sid is None and method not in (None, "GET"):
        raise RequestRefused(EngineError.BAD_HANDSHAKE_METHOD)
    return transport, sid


class Session:
    """One Engine.IO connection, from handshake to close.

    Over polling, outgoing packets wait in ``_outbox`` until a GET takes them; over a WebSocket
    each is written at once. The heartbeat is one timer handle, not a task: an idle session costs
    a few hundred bytes here.
    """

    __slots__ = (
        "_link",
        "_outbox",
        "_poll_waiter",
        "_timer",
        "_upgrade_timer",
        "awaiting_pong",
        "closed",
        "handler",
        "options",
        "sid",
        "transport",
        "upgrading",
    )

    def __init__(
        self, *, transport: str, options: EngineOptions, link: WebSocketLink | None = None
    ) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.transport = transport
        self.options = options
        self.handler: SessionHandler | None = None
        self.closed = False
        self.upgrading = False
        self.awaiting_pong = False
        self._link = link
        # A list, not a deque: it is empty for the life of most sessions, and an empty deque
        # weighs ten times as much.
        self._outbox: list[eio.Packet] = []
        self._poll_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._upgrade_timer: asyncio.TimerHandle | None = None

    # --- opening ------------------------------------------------------------------------------

    def open(self) -> str:
        """Starts the heartbeat, registers a polling session, and returns the OPEN packet."""
        if self.transport == POLLING:
            sessions[self.sid] = self
        self._arm(self.options.ping_interval)
        handshake = {
            "sid": self.sid,
            "upgrades": [WEBSOCKET] if self.transport == POLLING else [],
            "pingInterval": int(self.options.ping_interval * 1000),
            "pingTimeout": int(self.options.ping_timeout * 1000),
            "maxPayload": self.options.max_payload,
        }
        return eio.Packet(eio.OPEN, data=handshake).encode()

    # --- heartbeat ----------------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._beat)

    def _beat(self) -> None:
        # Engine.IO v4: the server pings, the client must answer within ping_timeout.
        self._timer = None
        if self.awaiting_pong:
            spawn(self.close("ping timeout"))
            return
        self.awaiting_pong = True
        self._arm(self.options.ping_timeout)
        spawn(self._send(eio.Packet(eio.PING)))

    # --- sending ------------------------------------------------------------------------------

    async def send_message(self, data: str) -> None:
        """Sends one MESSAGE packet (an encoded Socket.IO packet)."""
        await self._send(eio.Packet(eio.MESSAGE, data=data))

    async def _send(self, packet: eio.Packet) -> None:
        if self.closed:
            return
        if self._link is not None and not self._outbox:
            await self._link.send(text_data=packet.encode())
            return
        self._outbox.append(packet)
        if len(self._outbox) > self.options.max_buffered_packets:
            self._outbox.clear()
            await self.close("too many buffered packets")
            return
        self._wake_poller()

    def _wake_poller(self) -> None:
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(None)

    # --- receiving ----------------------------------------------------------------------------

    async def receive(self, data: str | bytes) -> None:
        """Handles one frame from the WebSocket that carries this session."""
        if len(data) > self.options.max_payload:
            await self.close("payload too large", code=CLOSE_TOO_BIG)
            return
        try:
            packet = decode_packet(data)
        except PacketError:
            await self.close("parse error", code=CLOSE_PROTOCOL_ERROR)
            return
        await self._dispatch(packet)

    async def receive_payload(self, body: str) -> None:
        """Handles the body of a polling POST; raises :class:`RequestRefused` when malformed."""
        try:
            packets = decode_payload(body)
        except PacketError:
            await self.close("parse error")
            raise RequestRefused(EngineError.BAD_REQUEST) from None
        for packet in packets:
            if self.closed:
                break
            await self._dispatch(packet)

    async def _dispatch(self, packet: eio.Packet) -> None:
        kind = packet.packet_type
        if kind == eio.MESSAGE:
            if self.handler is not None:
                await self.handler.on_message(packet.data)
        elif kind == eio.PONG:
            self.awaiting_pong = False
            self._arm(self.options.ping_interval)
        elif kind == eio.CLOSE:
            await self.close("transport close", notify=False)
        elif kind != eio.NOOP:
            # OPEN, UPGRADE outside a probe, and client PINGs (v3's heartbeat direction).
            await self.close("parse error", code=CLOSE_PROTOCOL_ERROR)

    # --- polling --------------------------------------------------------------------------------

    async def poll(self) -> str:
        """Answers a polling GET: waits until packets are due, then returns them as a payload."""
        if self._poll_waiter is not None:
            # Two concurrent GETs mean a broken client; engine.io closes the session too.
            await self.close("overlapping poll")
            raise RequestRefused(EngineError.BAD_REQUEST)
        if not self._outbox and not self.upgrading and not self.closed:
            self._poll_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._poll_waiter
            finally:
                self._poll_waiter = None
        if not self._outbox:
            # Releases the client's pending GET so it can pause polling and finish the upgrade.
            self._outbox.append(eio.Packet(eio.NOOP))
        payload = _Payload(packets=self._outbox).encode()
        self._outbox = []
        if self.closed:
            sessions.pop(self.sid, None)
        return payload

    # --- upgrade ------------------------------------------------------------------------------

    def can_upgrade(self) -> bool:
        return self.transport == POLLING and not self.upgrading and not self.closed

    async def receive_probe(self, data: str | bytes, link: WebSocketLink) -> bool:
        """Handles one frame from a WebSocket probing this polling session (``?sid=``).

        ``2probe`` is answered ``3probe`` and releases the pending GET; ``5`` (UPGRADE) moves the
        session onto ``link`` and flushes what was waiting. Returns True once upgraded; anything
        else aborts the probe and closes ``link``.
        """
        try:
            packet = decode_packet(data)
        except PacketError:
            packet = None
        if packet is not None and packet.packet_type == eio.PING and packet.data == PROBE:
            if self.can_upgrade():
                self.upgrading = True
                self._upgrade_timer = asyncio.get_running_loop().call_later(
                    self.options.upgrade_timeout, lambda: spawn(link.close(CLOSE_POLICY_VIOLATION))
                )
                await link.send(text_data=eio.Packet(eio.PONG, data=PROBE).encode())
                self._wake_poller()
                return False
        elif packet is not None and packet.packet_type == eio.UPGRADE and self.upgrading:
            self._end_upgrade()
            self.transport = WEBSOCKET
            self._link = link
            sessions.pop(self.sid, None)
            while self._outbox and not self.closed:
                await link.send(text_data=self._outbox.pop(0).encode())
            self._wake_poller()
            return True
        self.abort_upgrade()
        await link.close(CLOSE_PROTOCOL_ERROR)
        return False

    def abort_upgrade(self) -> None:
        """The probing WebSocket went away before ``5``: the session stays on polling."""
        if self.transport == POLLING:
            self._end_upgrade()

    def _end_upgrade(self) -> None:
        self.upgrading = False
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
            self._upgrade_timer = None

    # --- closing ------------------------------------------------------------------------------

    async def close(self, reason: str, *, code: int = CLOSE_NORMAL, notify: bool = True) -> None:
        """Ends the session once: tells the handler, then the client (``notify``).

        A polling client gets a CLOSE packet from its pending or next GET, so a server-side
        disconnect reaches it before the session is forgotten.
        """
        if self.closed:
            return
        self.closed = True
        if self.handler is not None:
            try:
                await self.handler.on_close(reason)
            except Exception:
                logger.exception("engine.io session %s: close handler failed", self.sid)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._end_upgrade()
        if self._link is not None:
            self._outbox.clear()
            if notify:
                await self._link.close(code)
            return
        if notify:
            self._outbox.append(eio.Packet(eio.CLOSE))
            self._wake_poller()
            # Forget the session even if the client never polls again.
            self._timer = asyncio.get_running_loop().call_later(
                self.options.ping_timeout, sessions.pop, self.sid, None
            )
        else:
            sessions.pop(self.sid, None)


sessions: dict[str, Session] = {}
