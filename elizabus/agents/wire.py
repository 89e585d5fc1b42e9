"""The agent wire's edge: the WebSocket ``/api/agents/<agentId>/bus`` an instance of an agent
hosted outside attaches to (docs/agents.md, "The agent wire").

It only translates: frames in are acknowledgements, lease extensions and stream chunks for the
attached agent (``attached.py``); frames out are that agent's deliveries and state. Replies,
``/complete`` and action badges come over the REST API, as the reference's MessageBusService
sends them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from elizabus.bus.events import MessageStreamChunk
from elizabus.bus.publish import publish_ephemeral
from elizabus.conf import app_settings
from elizabus.exceptions import AgentNotFound, DomainError, NotHostedOutside
from elizabus.identity.tokens import token_verify
from elizabus.ids import is_uuid

from .attached import AttachedAgent, attachments

logger = logging.getLogger(__name__)

# WebSocket close codes, in the application range.
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_HOSTED_OUTSIDE = 4409
CLOSE_DELETED = 4410
MAX_CHUNK_CHARS = 64 * 1024


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return ""


class Link:
    """An attached connection as the bus side sees it (``attached.Instance``)."""

    def __init__(self, consumer: AgentWireConsumer) -> None:
        self.instance_id = uuid.uuid4().hex
        self._consumer = consumer

    def send(self, frame: dict[str, Any]) -> None:
        self._consumer.send_frame(frame)

    def close(self, code: int) -> None:
        self._consumer.send_frame(code)


class AgentWireConsumer(AsyncWebsocketConsumer):
    """One attached instance."""

    async def connect(self) -> None:
        self.link = Link(self)
        self.agent_id: uuid.UUID | None = None
        self._loop = asyncio.get_running_loop()
        self._outgoing: asyncio.Queue[str | int] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        await self.accept()
        token = settings.ELIZA_SERVER_AUTH_TOKEN
        key_given = bool(token) and hmac.compare_digest(
            _header(self.scope, b"x-api-key").encode(), token.encode()
        )
        raw_id = self.scope["url_route"]["kwargs"]["agent_id"]
        if app_settings.DATA_ISOLATION and not key_given:
            # An agent acts as itself only: the operator's key, or a token of the agent's own
            # (docs/security.md, "Access").
            if not await self._token_is(raw_id):
                await self.close(CLOSE_UNAUTHORIZED)
                return
        elif token and not key_given:
            await self.close(CLOSE_UNAUTHORIZED)
            return
        if not is_uuid(raw_id):
            await self.close(CLOSE_NOT_FOUND)
            return
        try:
            agent = await database_sync_to_async(attachments.attach)(uuid.UUID(raw_id), self.link)
        except AgentNotFound:
            await self.close(CLOSE_NOT_FOUND)
            return
        except NotHostedOutside:
            await self.close(CLOSE_NOT_HOSTED_OUTSIDE)
            return
        self.agent_id = agent.entity_id
        self._sender = asyncio.create_task(self._send_loop())
        logger.info("agent %s: instance %s attached", agent.name, self.link.instance_id)

    async def _token_is(self, agent_id: str) -> bool:
        scheme, _, bearer = _header(self.scope, b"authorization").partition(" ")
        if scheme.lower() != "bearer" or not bearer.strip() or not is_uuid(agent_id):
            return False
        try:
            identity = await sync_to_async(token_verify, thread_sensitive=False)(bearer.strip())
        except DomainError:
            return False
        return identity.entity_id == uuid.UUID(agent_id)

    async def disconnect(self, code: int) -> None:
        if self.agent_id is not None:
            attachments.detach(self.agent_id, self.link)
            if self._sender is not None:
                self._sender.cancel()
            logger.info(
                "agent %s: instance %s detached (%s)", self.agent_id, self.link.instance_id, code
            )
            self.agent_id = None

    def send_frame(self, frame: dict[str, Any] | int) -> None:
        """Queues a frame (a close code for an int) behind those before it, from any thread."""
        item = frame if isinstance(frame, int) else json.dumps(frame, separators=(",", ":"))
        self._loop.call_soon_threadsafe(self._outgoing.put_nowait, item)

    async def _send_loop(self) -> None:
        while True:
            item = await self._outgoing.get()
            if isinstance(item, int):
                await self.close(item)
                return
            await self.send(text_data=item)

    # --- frames in ---------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        attached = attachments.get(self.agent_id) if self.agent_id is not None else None
        if attached is None:
            return
        try:
            frame = json.loads(text_data or "")
            kind, delivery_id = frame["type"], frame["deliveryId"]
            if not isinstance(delivery_id, str):
                raise TypeError("deliveryId must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            self.send_frame({"type": "error", "error": f"Invalid frame: {exc}"})
            return
        if kind == "ack":
            error = frame.get("error") or ""
            if not attached.acknowledge(self.link, delivery_id, str(error)[:2000]):
                self.send_frame({"type": "stale", "deliveryId": delivery_id})
        elif kind == "extend":
            if attached.extend(self.link, delivery_id) is None:
                self.send_frame({"type": "stale", "deliveryId": delivery_id})
        elif kind == "chunk":
            self._chunk(attached, delivery_id, frame)
        else:
            self.send_frame({"type": "error", "error": f"Unknown frame type {kind!r}"})

    def _chunk(self, attached: AttachedAgent, delivery_id: str, frame: dict[str, Any]) -> None:
        """A piece of the reply the instance streams; dropped unless it holds the delivery.
        The reply's id is the instance's; the message it answers is the delivery's."""
        message_id, chunk, index = frame.get("messageId"), frame.get("chunk"), frame.get("index")
        if not (is_uuid(message_id) and isinstance(chunk, str) and isinstance(index, int)):
            self.send_frame({"type": "error", "error": "Invalid chunk: messageId, chunk, index"})
            return
        chunk = chunk[:MAX_CHUNK_CHARS]
        delivery = attached.stream(self.link, delivery_id, str(message_id), chunk)
        if delivery is None or self.agent_id is None:
            return
        publish_ephemeral(
            MessageStreamChunk(
                channel_id=delivery.channel_id,
                message_id=str(message_id),
                agent_id=str(self.agent_id),
                chunk=chunk,
                index=index,
                in_reply_to_message_id=delivery.message_id,
            )
        )
