"""Channels consumers for ``/socket.io/``: the wire ends of an Engine.IO session.

:class:`SocketIOWebSocketConsumer` carries a WebSocket-only session, or a polling session once it
upgrades. :class:`SocketIOPollingConsumer` answers one long-polling request. Both hand frames to
the session (``engineio.py``) and group messages (``type`` ``socket.emit``) to the socket router.

Group membership (:class:`GroupMembership`) is tied to a Channels channel. A WebSocket consumer
lends its own, so an idle socket costs no extra task. A polling session has no consumer between
requests, so it gets a small pump task that receives for it; when the session upgrades, its
groups move to the WebSocket consumer's channel and the pump stops (see ``move_to``).

Origins: a request without ``Origin`` (a non-browser client) is let in; one with ``Origin`` must
match ``ELIZABUS["SOCKET_ALLOWED_ORIGINS"]`` (Channels' pattern syntax, ``*`` for any), or
``ALLOWED_HOSTS`` when that list is empty.

May import Django, Channels, the app's conf and this package.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qsl, urlparse

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import BaseChannelLayer, get_channel_layer
from channels.security.websocket import OriginValidator
from django.conf import settings

from elizabus.conf import app_settings

from .broadcast import SOCKET_EMIT
from .engineio import (
    CLOSE_TOO_BIG,
    POLLING,
    WEBSOCKET,
    EngineError,
    EngineOptions,
    RequestRefused,
    Session,
    WebSocketLink,
    check_request,
    sessions,
)
from .router import SocketRouter
from .socketio import Socket

logger = logging.getLogger(__name__)

# socket.io's connectTimeout: how long a session may stay without a connected namespace.
CONNECT_TIMEOUT = 45.0
# How long an upgrade waits for the polling pump to hand over what it already received.
HANDOVER_TIMEOUT = 5.0
HANDOVER = "socket.handover"


def engine_options() -> EngineOptions:
    return EngineOptions(
        ping_interval=app_settings.SOCKET_PING_INTERVAL_MS / 1000,
        ping_timeout=app_settings.SOCKET_PING_TIMEOUT_MS / 1000,
        max_payload=app_settings.MAX_SOCKET_FRAME_BYTES,
    )


class GroupMembership:
    """A socket's Channels groups and the channel that receives for them."""

    __slots__ = ("_pump", "_seen", "channel", "groups", "layer", "router")

    def __init__(self, layer: BaseChannelLayer, channel: str | None) -> None:
        self.layer = layer
        self.channel = channel
        self.groups: set[str] = set()
        self.router: SocketRouter | None = None
        self._pump: asyncio.Task[None] | None = None
        # Ids of group messages the pump delivered during an upgrade, to drop their twins.
        self._seen: set[str] | None = None

    async def add(self, group: str) -> None:
        if self.channel is None:
            self.channel = await self.layer.new_channel()
            self._pump = asyncio.get_running_loop().create_task(self._run_pump(self.channel))
        await self.layer.group_add(group, self.channel)
        self.groups.add(group)

    async def discard_all(self) -> None:
        for group in self.groups:
            await self.layer.group_discard(group, self.channel)
        self.groups.clear()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    async def deliver(self, message: dict[str, Any]) -> None:
        if self._seen and message.get("id") in self._seen:
            self._seen.discard(message["id"])
            return
        await self.router.deliver(message)

    async def move_to(self, channel: str) -> None:
        """Moves every group onto ``channel`` (an upgraded session's WebSocket consumer).

        Join the new channel first and leave the old one after, so nothing is lost; then fence
        the old channel and let the pump deliver all it holds before the consumer goes on (it
        waits, so order holds). A message sent while both were joined arrives twice and
        ``_seen`` drops the second copy.
        """
        old, self.channel = self.channel, channel
        pump, self._pump = self._pump, None
        if old is None or pump is None:
            return
        self._seen = set()
        for group in self.groups:
            await self.layer.group_add(group, channel)
        for group in self.groups:
            await self.layer.group_discard(group, old)
        await self.layer.send(old, {"type": HANDOVER})
        try:
            await asyncio.wait_for(pump, HANDOVER_TIMEOUT)
        except TimeoutError:
            logger.warning("socket upgrade: the polling pump did not hand over in time")

    async def _run_pump(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            if message.get("type") == HANDOVER:
                return
            if message.get("type") != SOCKET_EMIT:
                continue
            if self._seen is not None:
                self._seen.add(message["id"])
            try:
                await self.router.deliver(message)
            except Exception:
                logger.exception("socket pump: delivery failed")


def open_session(
    scope: dict[str, Any], *, link: WebSocketLink | None = None, channel: str | None = None
) -> Session:
    """Builds one client's stack: Engine.IO session, Socket.IO socket, router, groups."""
    session = Session(
        transport=WEBSOCKET if link is not None else POLLING, options=engine_options(), link=link
    )
    groups = GroupMembership(get_channel_layer(), channel)
    router = SocketRouter(groups=groups, api_key_header=_header(scope, b"x-api-key"))
    socket = Socket(session, router, connect_timeout=CONNECT_TIMEOUT)
    router.socket = socket
    groups.router = router
    session.handler = socket
    return session


def _membership(session: Session) -> GroupMembership:
    return session.handler.namespace.groups


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return ""


def _query(scope: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin1")))


def origin_allowed(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return True
    allowed = list(app_settings.SOCKET_ALLOWED_ORIGINS) or settings.ALLOWED_HOSTS
    return OriginValidator(None, allowed).validate_origin(urlparse(origin))


class SocketIOWebSocketConsumer(AsyncWebsocketConsumer):
    """A WebSocket at ``/socket.io/``: a new session (no ``sid``) or an upgrade probe (``sid``)."""

    session: Session | None = None
    probing = False

    async def connect(self) -> None:
        try:
            if not origin_allowed(self.scope):
                raise RequestRefused(EngineError.FORBIDDEN)
            _, sid = check_request(_query(self.scope))
        except RequestRefused:
            await self.close()
            return
        if sid is None:
            await self.accept()
            self.session = open_session(self.scope, link=self, channel=self.channel_name)
            await self.send(text_data=self.session.open())
            return
        session = sessions.get(sid)
        if session is None or not session.can_upgrade():
            await self.close()
            return
        self.session, self.probing = session, True
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = text_data if text_data is not None else bytes_data
        if not self.probing:
            await self.session.receive(data)
        elif len(data) > self.session.options.max_payload:
            await self.close(CLOSE_TOO_BIG)
        elif await self.session.receive_probe(data, self):
            self.probing = False
            await _membership(self.session).move_to(self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.session is None:
            return
        if self.probing:
            self.session.abort_upgrade()
        else:
            await self.session.close("transport close", notify=False)

    async def socket_emit(self, message: dict[str, Any]) -> None:
        if self.session is not None and not self.probing:
            await _membership(self.session).deliver(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, a thread hop per
        # frame and per broadcast. All database work here goes through database_sync_to_async,
        # which does that itself, so fan-out skips the hop.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class SocketIOPollingConsumer(AsyncHttpConsumer):
    """One HTTP long-polling request at ``/socket.io/``: handshake, GET (poll) or POST (send)."""

    received = 0

    async def http_request(self, message: dict[str, Any]) -> None:
        self.received += len(message.get("body", b""))
        if self.received > app_settings.MAX_SOCKET_FRAME_BYTES:
            # Refuse before buffering the rest: the limit is the point.
            session = sessions.get(_query(self.scope).get("sid", ""))
            if session is not None:
                await session.close("payload too large")
            await self._respond(413, b"Payload Too Large", "text/plain; charset=UTF-8")
            raise StopConsumer()
        await super().http_request(message)

    async def handle(self, body: bytes) -> None:
        method = self.scope["method"]
        if method == "OPTIONS" and origin_allowed(self.scope):
            await self._respond(204, b"", "text/plain; charset=UTF-8")
            return
        try:
            await self._handle(method, body)
        except RequestRefused as refusal:
            await self._respond(refusal.error.status, refusal.error.body(), "application/json")

    async def _handle(self, method: str, body: bytes) -> None:
        if not origin_allowed(self.scope):
            raise RequestRefused(EngineError.FORBIDDEN)
        _, sid = check_request(_query(self.scope), method=method)
        if sid is None:
            session = open_session(self.scope)
            await self._respond(200, session.open().encode(), "text/plain; charset=UTF-8")
            return
        session = sessions.get(sid)
        if session is None:
            raise RequestRefused(EngineError.UNKNOWN_SID)
        if method == "GET":
            payload = await session.poll()
            await self._respond(200, payload.encode(), "text/plain; charset=UTF-8")
        elif method == "POST":
            try:
                text = body.decode()
            except UnicodeDecodeError:
                await session.close("parse error")
                raise RequestRefused(EngineError.BAD_REQUEST) from None
            await session.receive_payload(text)
            await self._respond(200, b"ok", "text/html")
        else:
            raise RequestRefused(EngineError.BAD_REQUEST)

    async def _respond(self, status: int, body: bytes, content_type: str) -> None:
        headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
        origin = _header(self.scope, b"origin")
        if origin and origin_allowed(self.scope):
            headers += [
                (b"access-control-allow-origin", origin.encode("latin1")),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"content-type, x-api-key"),
                (b"vary", b"Origin"),
            ]
        await self.send_response(status, body, headers=headers)
