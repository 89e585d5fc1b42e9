"""Channels consumers for ``/socket.io/``: the wire ends of an Engine.IO session.

:class:`SocketIOWebSocketConsumer` carries a WebSocket-only session, or a polling session once it
upgrades. :class:`SocketIOPollingConsumer` answers one long-polling request. Both hand frames to
the session (``engineio.py``).

Neither has a Channels channel of its own: broadcasts reach a socket through its process's rooms
(``rooms.py``), whatever transport carries it, so an upgrade moves nothing.

Origins: a request without ``Origin`` (a non-browser client) is let in; one with ``Origin`` must
match ``ELIZABUS["SOCKET_ALLOWED_ORIGINS"]`` (Channels' pattern syntax, ``*`` for any), or, when
that list is empty, be the server's own origin: scheme, host and port as the request reached
it, the host one of ``ALLOWED_HOSTS`` (docs/realtime.md, "Origins").
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlparse

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from elizabus.conf import app_settings

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
from .rooms import local_rooms
from .router import SocketRouter
from .socketio import Socket

logger = logging.getLogger(__name__)

# socket.io's connectTimeout: how long a session may stay without a connected namespace.
CONNECT_TIMEOUT = 45.0


def engine_options() -> EngineOptions:
    return EngineOptions(
        ping_interval=app_settings.SOCKET_PING_INTERVAL_MS / 1000,
        ping_timeout=app_settings.SOCKET_PING_TIMEOUT_MS / 1000,
        max_payload=app_settings.MAX_SOCKET_FRAME_BYTES,
    )


def open_session(scope: dict[str, Any], *, link: WebSocketLink | None = None) -> Session:
    """Builds one client's stack: Engine.IO session, Socket.IO socket, router."""
    session = Session(
        transport=WEBSOCKET if link is not None else POLLING, options=engine_options(), link=link
    )
    router = SocketRouter(
        rooms=local_rooms(),
        api_key_header=_header(scope, b"x-api-key"),
        client_address=(scope.get("client") or ("",))[0] or "",
    )
    socket = Socket(session, router, connect_timeout=CONNECT_TIMEOUT)
    router.socket = socket
    session.handler = socket
    return session


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
    configured = list(app_settings.SOCKET_ALLOWED_ORIGINS)
    if configured:
        return OriginValidator(None, configured).validate_origin(urlparse(origin))
    return same_origin(scope, origin)


# The page's scheme for each of the request's: a page at http://host opens ws://host.
_PAGE_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(scope: dict[str, Any], origin: str) -> bool:
    """Whether ``origin`` is the server's own, as the request reached it: the same scheme, host
    and port (Channels' check of ``ALLOWED_HOSTS`` compared the host alone, so a page on any
    port of the server's host, another local app, could open a socket). A browser's
    ``Sec-Fetch-Site: same-origin`` is believed too, for a TLS proxy that passes the host but
    not the scheme; the host must still be allowed."""
    host = _header(scope, b"host")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    if _header(scope, b"sec-fetch-site") == "same-origin":
        return True
    scheme = _PAGE_SCHEMES.get(scope.get("scheme") or "http")
    return scheme is not None and _origin_key(origin) == _origin_key(f"{scheme}://{host}")


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    try:
        parsed = urlparse(origin.lower())
        port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:
        return None
    if not parsed.scheme or not parsed.hostname:
        return None
    return parsed.scheme, parsed.hostname, port


class SocketIOWebSocketConsumer(AsyncWebsocketConsumer):
    """A WebSocket at ``/socket.io/``: a new session (no ``sid``) or an upgrade probe (``sid``)."""

    # Broadcasts arrive through the process's rooms, so the consumer needs no channel of its own.
    channel_layer_alias = None
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
            self.session = open_session(self.scope, link=self)
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
        # Only an accepted socket receives, and connect accepts one only with its session;
        # Channels passes one of the two payloads.
        session = self.session
        assert session is not None and data is not None
        if not self.probing:
            await session.receive(data)
        elif len(data) > session.options.max_payload:
            await self.close(CLOSE_TOO_BIG)
        elif await session.receive_probe(data, self):
            self.probing = False

    async def disconnect(self, code: int) -> None:
        if self.session is None:
            return
        if self.probing:
            self.session.abort_upgrade()
        else:
            await self.session.close("transport close", notify=False)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, a thread hop per
        # frame. All database work here goes through database_sync_to_async, which does that
        # itself, so frames skip the hop.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class SocketIOPollingConsumer(AsyncHttpConsumer):
    """One HTTP long-polling request at ``/socket.io/``: handshake, GET (poll) or POST (send)."""

    # No channel of its own, as for the WebSocket: on channels-redis every receiver of a
    # process pops from the process's one queue, and a request's receiver, cancelled as the
    # request ended, dropped the broadcast it had just popped for the sockets.
    channel_layer_alias = None
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
            opened = open_session(self.scope)
            await self._respond(200, opened.open().encode(), "text/plain; charset=UTF-8")
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
