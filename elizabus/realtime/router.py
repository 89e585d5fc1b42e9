"""The elizaOS socket router: what a connected socket may do (docs/realtime.md).

One :class:`SocketRouter` per connected socket. It authenticates the handshake, validates each
event, calls the services through ``database_sync_to_async`` and emits the answers. It never
parses packets (``socketio.py`` does) and never writes rows itself (the services do). Live pushes
from the bus arrive through :meth:`SocketRouter.deliver`.

Events: ``"1"`` and ``message {type: 1}`` join a channel, ``"2"`` and ``message {type: 2}`` send
a message; ``subscribe_logs``, ``unsubscribe_logs`` and ``update_log_filters`` manage the socket's
log stream (``logstream.py``). Every refusal is a ``messageError {error}`` to this socket alone.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.crypto import constant_time_compare

from elizabus import breakers, selectors, services
from elizabus.bus.events import NewMessage
from elizabus.conf import app_settings
from elizabus.db import batches
from elizabus.exceptions import DomainError, ServiceUnavailable
from elizabus.identity.tokens import token_verify
from elizabus.json_values import json_value_check

from . import history
from .broadcast import message_broadcast
from .engineio import spawn
from .logstream import log_stream
from .presence import entity_presence, local_presence
from .rooms import LocalRooms
from .socketio import ConnectionRefused, Socket

logger = logging.getLogger(__name__)

JOIN = 1
SEND = 2

JOIN_REQUIRED = "channelId is required for joining."
JOIN_DENIED = "Access denied: You don't have permission to join this channel"
SEND_DENIED = "Access denied: You don't have permission to send to this channel"
SEND_REQUIRED = (
    "For SEND_MESSAGE: channelId, messageServerId (message_server_id), senderId (author_id), "
    "and message are required."
)
SENDER_MISMATCH = "senderId must be the entityId this socket authenticated as."
LOG_EVENTS = frozenset({"subscribe_logs", "unsubscribe_logs", "update_log_filters"})
LOG_STREAM_OFF = "Log streaming is disabled on this server."
LOG_STREAM_OPERATOR = "Only the operator (the API key) may stream logs."
ACK_STATUS = "received_by_server_and_processing"

# Sockets per entity in this process, when there is no Redis (presence.py); with REDIS_URL set
# the limit holds across processes and this stays empty.
_entity_sockets = local_presence.counts
# The sockets of one client address are counted under an id made from the address, beside
# the entities' (presence.py counts by id).
_CLIENT_NAMESPACE = uuid.UUID("5d1c2a3e-8f0b-4c55-9a7e-2b6f1e0c9d41")


@dataclass(slots=True)
class _Resume:
    """A join in progress: live pushes wait until its answer (and a resume's missed messages)
    are out; after a resume, a live push of a message whose seq the resend covered (it was
    resent, or has been deleted since) is dropped."""

    holding: bool = True
    held: list[dict[str, Any]] = field(default_factory=list)
    covered: range = range(0)


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str | uuid.UUID):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError:
        return None


def _database(
    func: Callable[..., Any], late: Callable[[Any], Awaitable[None]] | None = None
) -> Callable[..., Awaitable[Any]]:
    """``database_sync_to_async(func)``, bounded on PostgreSQL as the API's trips are
    (``db/batches.py``): refused at once while the database's breaker is open, and given up
    after ``DEADLINE_SECONDS``. The work given up goes on in its thread; what it returns once
    the database answers goes to ``late`` (a message it stored is this socket's too)."""
    call = database_sync_to_async(func)
    if not breakers.database.configured:
        return call

    async def bounded(*args: Any, **kwargs: Any) -> Any:
        if not breakers.database.allow():
            raise ServiceUnavailable()
        work = asyncio.ensure_future(call(*args, **kwargs))
        try:
            with breakers.database.timed():
                return await asyncio.wait_for(asyncio.shield(work), batches.DEADLINE_SECONDS)
        except TimeoutError:
            if late is not None:
                work.add_done_callback(functools.partial(_finish_late, late))
            else:
                work.add_done_callback(_forget)
            breakers.database.failed(f"no answer within {batches.DEADLINE_SECONDS} s")
            raise ServiceUnavailable() from None
        except Exception as exc:
            if breakers.database_down(exc):
                breakers.database.failed(exc)
                raise ServiceUnavailable() from exc
            raise

    return bounded


def _finish_late(late: Callable[[Any], Awaitable[None]], work: asyncio.Future[Any]) -> None:
    if not work.cancelled() and work.exception() is None:
        spawn(_quietly(late(work.result())))


async def _quietly(coroutine: Awaitable[None]) -> None:
    try:
        await coroutine
    except Exception:  # the socket went away meanwhile
        logger.debug("socket: a late answer could not be sent", exc_info=True)


def _forget(work: asyncio.Future[Any]) -> None:
    if not work.cancelled():
        work.exception()  # retrieved: a late failure of work given up is nobody's


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


class SocketRouter:
    """The business side of one socket: the :class:`~.socketio.Namespace` it connects to."""

    __slots__ = (
        "_api_key_header",
        "_channels",
        "_client_place",
        "_limited",
        "_presence_id",
        "_resumes",
        "_stamp",
        "_throttled",
        "_tokens",
        "client_address",
        "entity_id",
        "rooms",
        "socket",
    )

    # Set by ``consumers.open_session`` right after the router is made, since the socket and
    # its router refer to each other.
    socket: Socket

    def __init__(
        self, *, rooms: LocalRooms, api_key_header: str = "", client_address: str = ""
    ) -> None:
        self.rooms = rooms
        # The peer's address (a proxy's unless serve trusts it), and the place this socket
        # holds among the address's sockets.
        self.client_address = client_address
        self._client_place: uuid.UUID | None = None
        # The channels this socket joined; None until the first join (most sockets join one).
        self._channels: set[str] | None = None
        self.entity_id: uuid.UUID | None = None
        self._api_key_header = api_key_header
        self._resumes: dict[str, _Resume] | None = None
        self._tokens = float(app_settings.SOCKET_MAX_EVENTS_PER_SECOND)
        self._stamp = time.monotonic()
        self._throttled = False
        self._presence_id = ""
        # With data isolation, a socket of a token's entity (not the operator's key).
        self._limited = False

    # --- connection ---------------------------------------------------------------------------

    async def authenticate(self, auth: Any) -> None:
        auth = auth if isinstance(auth, dict) else {}
        token = settings.ELIZA_SERVER_AUTH_TOKEN
        presented = auth.get("apiKey") or self._api_key_header
        key_given = bool(token) and (
            isinstance(presented, str) and constant_time_compare(presented, token)
        )
        self._api_key_header = ""
        entity_id: uuid.UUID | None
        if app_settings.DATA_ISOLATION and not key_given:
            # The entity is the token's, whatever entityId says (docs/security.md, "Access");
            # the API key stays the operator's, who declares an entityId as before.
            entity_id = await self._token_entity(auth.get("token"))
            self._limited = True
        else:
            if token and not key_given:
                raise ConnectionRefused("Invalid or missing API Key")
            entity_id = _uuid(auth.get("entityId"))
            if entity_id is None:
                raise ConnectionRefused("Valid entityId required")
        presence_id = uuid.uuid4().hex
        try:
            held = await entity_presence().acquire(
                entity_id, presence_id, app_settings.SOCKET_MAX_CONNECTIONS_PER_ENTITY
            )
        except Exception:
            logger.exception("socket connect: could not count the sockets of %s", entity_id)
            raise ConnectionRefused("Server error") from None
        if not held:
            raise ConnectionRefused("Too many connections for this entity")
        self.entity_id, self._presence_id = entity_id, presence_id
        # Nothing is stored for the entity until it sends: any id may be declared, and a row
        # per connect let a loop of random ids grow the database without end. Those ids also
        # escape the limit per entity, so the sockets of one address are counted too.
        if not await self._hold_client_place():
            await self._release_entity()
            raise ConnectionRefused("Too many connections from this address")

    async def _hold_client_place(self) -> bool:
        limit = app_settings.SOCKET_MAX_CONNECTIONS_PER_CLIENT
        if not limit or not self.client_address:
            return True
        place = uuid.uuid5(_CLIENT_NAMESPACE, self.client_address)
        try:
            held = await entity_presence().acquire(place, self._presence_id, limit)
        except Exception:
            logger.exception("socket connect: could not count the sockets of an address")
            await self._release_entity()
            raise ConnectionRefused("Server error") from None
        if held:
            self._client_place = place
        return held

    @staticmethod
    async def _token_entity(token: Any) -> uuid.UUID:
        if not isinstance(token, str) or not token:
            raise ConnectionRefused("JWT token required for data isolation")
        try:
            # A platform's key set may have to be fetched: off the event loop.
            identity = await sync_to_async(token_verify, thread_sensitive=False)(token)
        except DomainError:
            raise ConnectionRefused("Invalid JWT token") from None
        return identity.entity_id

    async def on_connect(self) -> None:
        await self._emit(
            "authenticated",
            {"entityId": str(self.entity_id), "timestamp": int(time.time() * 1000)},
        )
        await self._emit(
            "connection_established",
            {"message": "Connected to Eliza Socket.IO server", "socketId": self.socket.sid},
        )

    async def on_disconnect(self, reason: str) -> None:
        await self._release_entity()
        self._resumes = None
        log_stream.unsubscribe(self.socket)
        channels, self._channels = self._channels or (), None
        for channel_id in channels:
            await self.rooms.leave(channel_id, self)

    async def _release_entity(self) -> None:
        if self._client_place is not None:
            place, self._client_place = self._client_place, None
            try:
                await entity_presence().release(place, self._presence_id)
            except Exception:
                logger.warning("could not release a socket's place", exc_info=True)
        if self.entity_id is not None:
            entity_id, self.entity_id = self.entity_id, None
            try:
                await entity_presence().release(entity_id, self._presence_id)
            except Exception:
                # The place ages out of Redis once this process stops refreshing it.
                logger.warning(
                    "entity %s: could not release a socket's place", entity_id, exc_info=True
                )

    # --- events ---------------------------------------------------------------------------------

    async def on_event(self, event: str, args: list[Any]) -> None:
        if not self._allow():
            if not self._throttled:
                self._throttled = True
                await self._error(
                    f"Rate limit exceeded: at most {app_settings.SOCKET_MAX_EVENTS_PER_SECOND} "
                    "events per second."
                )
            return
        self._throttled = False
        payload = args[0] if args else None
        if event in LOG_EVENTS:
            await self._log_event(event, payload)
            return
        if event == "message":
            if not isinstance(payload, dict) or "type" not in payload or "payload" not in payload:
                await self._error("A message event needs {type, payload}.")
                return
            kind, payload = payload["type"], payload["payload"]
        else:
            kind = {"1": JOIN, "2": SEND}.get(event)
        try:
            if kind == JOIN and not isinstance(kind, bool):
                await self._join(payload)
            elif kind == SEND and not isinstance(kind, bool):
                await self._send(payload)
            elif event == "message":
                await self._error(f"Unknown message type: {str(kind)[:32]}")
            else:
                await self._error(f"Unknown event: {event[:64]}")
        except DomainError as exc:
            await self._error(f"Error processing your message: {exc.message}")
        except Exception:
            logger.exception("socket %s: %s failed", self.socket.sid, event[:64])
            await self._error("Error processing your message: internal error")

    async def on_refused(self, reason: str) -> None:
        await self._error(reason)

    def _allow(self) -> bool:
        # A token bucket holding one second's worth of events.
        rate = float(app_settings.SOCKET_MAX_EVENTS_PER_SECOND)
        now = time.monotonic()
        self._tokens = min(rate, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _join(self, payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        raw_channel = payload.get("channelId") or payload.get("roomId")
        if not raw_channel:
            await self._error(JOIN_REQUIRED)
            return
        channel_id = _uuid(raw_channel)
        last_seen = payload.get("lastMessageId")
        last_seen_id = _uuid(last_seen) if last_seen else None
        if channel_id is None or (last_seen and last_seen_id is None):
            await self._error("channelId and lastMessageId must be UUIDs.")
            return
        last_seq = payload.get("lastSeq")
        if last_seq is not None and (
            not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0
        ):
            await self._error("lastSeq must be a whole number, 0 or more.")
            return
        allowed = await _database(selectors.channel_may_join)(
            channel_id=channel_id, entity_id=self.entity_id, central=not self._limited
        )
        if not allowed:
            await self._error(JOIN_DENIED)
            return
        key = str(channel_id)
        resuming = last_seen_id is not None or last_seq is not None
        # Every join holds the channel's live pushes until its answer is out, so none comes
        # before the lastSeq it is newer than; a resume's resend goes out in between.
        resume = _Resume()
        self._resumes = {**(self._resumes or {}), key: resume}
        try:
            self._channels = {*(self._channels or ()), key}
            await self.rooms.join(key, self)
            if self._channels is None:
                # The socket went away while the join waited on the channel layer.
                await self.rooms.leave(key, self)
                return
            joined: dict[str, Any] = {
                "message": f"Successfully joined channel {key}",
                "channelId": key,
                "roomId": key,
            }
            if isinstance(payload.get("agentId"), str):
                joined["agentId"] = payload["agentId"]
            # Read once this process is in the channel's group: every later message comes live.
            if not resuming:
                joined["lastSeq"] = await _database(selectors.channel_last_seq)(channel_id)
                missed = None
            else:
                missed = await _database(history.missed)(
                    channel_id=channel_id, after_seq=last_seq, after_message_id=last_seen_id
                )
                joined |= {
                    "lastSeq": missed.last_seq,
                    "resent": len(missed.events),
                    "recovered": missed.complete,
                }
                resume.covered = missed.covered
            await self._emit("channel_joined", joined)
            await self._emit("room_joined", joined)
            for event in missed.events if missed is not None else ():
                await self._emit("messageBroadcast", message_broadcast(event))
        finally:
            # In the order they came; those that come meanwhile are held behind them.
            while resume.held:
                held, resume.held = resume.held, []
                for message in held:
                    await self._pass(message, resume)
            resume.holding = False
            if not resume.covered and self._resumes and self._resumes.get(key) is resume:
                del self._resumes[key]  # nothing to drop: live pushes go straight out
                self._resumes = self._resumes or None

    async def _send(self, payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        channel_id = _uuid(payload.get("channelId") or payload.get("roomId"))
        server_id = _uuid(payload.get("messageServerId") or payload.get("serverId"))
        sender_id = _uuid(payload.get("senderId"))
        if self._limited and payload.get("senderId") is None:
            sender_id = self.entity_id  # with data isolation the sender is the socket's
        text = payload.get("message")
        if None in (channel_id, server_id, sender_id) or not isinstance(text, str) or not text:
            await self._error(SEND_REQUIRED)
            return
        if sender_id != self.entity_id:
            await self._error(SENDER_MISMATCH)
            return
        # What REST refuses (elizabus/json_values.py): the payload is stored whole, as the
        # message's raw_message.
        json_value_check(payload, nul=True)
        # The join's rule: without it a socket refused the join could still post into the
        # channel, reach its members and wake its agents. A channel joined was allowed then.
        if str(channel_id) not in (self._channels or ()) and not await _database(
            selectors.channel_may_send
        )(channel_id=channel_id, entity_id=sender_id, central=not self._limited):
            await self._error(SEND_DENIED)
            return
        metadata = payload.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        if len(text.encode()) > app_settings.MAX_CONTENT_BYTES:
            await self._error(f"Message content exceeds {app_settings.MAX_CONTENT_BYTES} bytes")
            return
        if _json_size(payload) > app_settings.MAX_CONTENT_BYTES + app_settings.MAX_METADATA_BYTES:
            await self._error(f"Message metadata exceeds {app_settings.MAX_METADATA_BYTES} bytes")
            return
        client_message_id = payload.get("messageId")
        if not isinstance(client_message_id, str) or not client_message_id:
            client_message_id = f"socketio-{int(time.time() * 1000)}-{secrets.token_hex(4)}"
        sender_name = payload.get("senderName")
        sender_name = sender_name if isinstance(sender_name, str) else ""
        source = payload.get("source")
        key = str(channel_id)

        async def acknowledge(event: NewMessage) -> None:
            await self._emit(
                "messageBroadcast",
                {**message_broadcast(event), "clientMessageId": client_message_id},
            )
            await self._emit(
                "messageAck",
                {
                    "clientMessageId": client_message_id,
                    "messageId": event.id,
                    "status": ACK_STATUS,
                    "channelId": key,
                    "roomId": key,
                },
            )

        # Stored after this socket was told the database did not answer: its broadcast skips
        # this socket (it has its own copy, by origin), so the copy and the ack come late.
        event = await _database(_store_message, late=acknowledge)(
            channel_id=channel_id,
            server_id=server_id,
            sender_id=sender_id,
            text=text,
            raw_message=payload,
            channel_metadata=(
                {**metadata, "targetUserId": payload["targetUserId"]}
                if payload.get("targetUserId")
                else metadata
            ),
            metadata={
                **metadata,
                "user_display_name": sender_name,
                "socket_id": self.socket.sid,
                "messageServerId": str(server_id),
                "attachments": payload.get("attachments") or metadata.get("attachments") or [],
            },
            source_type=source if isinstance(source, str) and source else "socketio_client",
            source_id=client_message_id,
            sender_name=sender_name,
        )
        await acknowledge(event)

    async def _log_event(self, event: str, payload: Any) -> None:
        if not app_settings.SOCKET_LOG_STREAM:
            await self._error(LOG_STREAM_OFF)
        elif self._limited:
            # Every process's log holds every channel's traffic: the operator's alone.
            await self._error(LOG_STREAM_OPERATOR)
        elif event == "subscribe_logs":
            log_stream.subscribe(self.socket)
            await self._emit(
                "log_subscription_confirmed",
                {"subscribed": True, "message": "Successfully subscribed to log stream"},
            )
        elif event == "unsubscribe_logs":
            log_stream.unsubscribe(self.socket)
            await self._emit(
                "log_subscription_confirmed",
                {"subscribed": False, "message": "Successfully unsubscribed from log stream"},
            )
        elif (filters := log_stream.update_filters(self.socket, payload)) is None:
            await self._emit(
                "log_filters_updated", {"success": False, "error": "Not subscribed to log stream"}
            )
        else:
            await self._emit("log_filters_updated", {"success": True, "filters": dict(filters)})

    # --- live pushes ----------------------------------------------------------------------------

    async def deliver(self, message: dict[str, Any]) -> None:
        """A ``socket.emit`` group message for one of this socket's channels."""
        if message.get("origin") and message["origin"] == self.socket.sid:
            return
        resume = self._resumes.get(message["channel"]) if self._resumes else None
        if resume is None:
            await self.socket.send_frame(message["frame"])
        elif resume.holding:
            resume.held.append(message)
        else:
            await self._pass(message, resume)

    async def _pass(self, message: dict[str, Any], resume: _Resume) -> None:
        seq = message.get("seq")
        if not (seq and seq in resume.covered):
            await self.socket.send_frame(message["frame"])

    # --- helpers --------------------------------------------------------------------------------

    async def _emit(self, event: str, data: dict[str, Any]) -> None:
        await self.socket.emit(event, data)

    async def _error(self, error: str) -> None:
        await self.socket.emit("messageError", {"error": error})


def _store_message(
    *,
    channel_id: uuid.UUID,
    server_id: uuid.UUID,
    sender_id: uuid.UUID,
    text: str,
    raw_message: dict[str, Any],
    channel_metadata: dict[str, Any],
    metadata: dict[str, Any],
    source_type: str,
    source_id: str,
    sender_name: str,
) -> NewMessage:
    event, _ = services.channel_message_post(
        channel_id=channel_id,
        server_id=server_id,
        author_id=sender_id,
        content=text,
        metadata=metadata,
        channel_metadata=channel_metadata,
        created_by="socketio_auto_creation",
        needs_agent=False,
        raw_message=raw_message,
        source_type=source_type,
        source_id=source_id,
        author_display_name=sender_name,
    )
    return event
