"""The ``http`` and ``sse`` transports of ``POST /channels/:id/messages`` (docs/agents.md).

The view stores the user's message as usual and hands back an :class:`AgentExchange` holding a
bus waiter opened *before* the message was stored, so the agent's answer cannot slip past. The
wait itself happens on the event loop (:class:`AgentExchangeMiddleware`), never on a thread, so
a slow agent holds no worker while it thinks.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from elizabus.bus.events import (
    BusEvent,
    MessageComplete,
    MessageError,
    MessageStreamChunk,
    MessageStreamError,
    NewMessage,
)
from elizabus.bus.waiters import EventWaiter, WaiterRegistry
from elizabus.conf import app_settings
from elizabus.exceptions import InvalidInput, InvalidTransport

from .errors import error_body

# The transports a post may ask for, under each of their names.
TRANSPORTS = {
    "http": "http",
    "sse": "sse",
    "websocket": "websocket",
    "sync": "http",
    "stream": "sse",
}

# What agents do about a message: stream their reply to it, reply to it, fail on it or
# finish with it. A stream's events name the message they answer, whatever the reply's id is
# (an agent hosted outside chooses its own).
agent_answers = WaiterRegistry(
    "agent_answers",
    {
        NewMessage: lambda event: event.in_reply_to_message_id,
        MessageError: lambda event: event.message_id,
        MessageComplete: lambda event: event.message_id,
        MessageStreamChunk: lambda event: event.in_reply_to_message_id,
        MessageStreamError: lambda event: event.in_reply_to_message_id,
    },
)


def parse_transport(
    data: Mapping[str, Any], *, error: type[InvalidInput] = InvalidTransport
) -> str:
    """``transport`` (or the deprecated ``mode``), with the reference's legacy aliases."""
    value = data.get("transport", data.get("mode", "websocket"))
    if not isinstance(value, str):
        raise error(f'Invalid transport type "{_js_typeof(value)}". Transport must be a string.')
    if value not in TRANSPORTS:
        raise error(
            f'Invalid transport "{value[:50]}". Must be one of: http, sse, websocket, sync, stream'
        )
    return TRANSPORTS[value]


def _js_typeof(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "object"


def agent_answer_waiter(*, message_id: uuid.UUID) -> EventWaiter:
    """A waiter for what agents do about ``message_id``: reply, fail or finish. Which agent is
    the one to wait for is known only once the message is stored (:class:`AgentExchange`)."""
    return agent_answers.waiter(str(message_id))


def agent_response(reply: NewMessage) -> dict[str, Any]:
    """The agent's answer as the reference's response ``Content``."""
    raw = reply.raw_message or {}
    return {
        "id": reply.id,
        "text": reply.content,
        "thought": raw.get("thought", ""),
        "actions": raw.get("actions", []),
        "createdAt": reply.created_at,
    }


def _author(event: BusEvent) -> str:
    return event.author_id if isinstance(event, NewMessage) else getattr(event, "agent_id", "")


def _is_outcome(event: BusEvent) -> bool:
    """Whether ``event`` ends the exchange: a reply, an error, a completion, or a stream
    cancelled for good (the message or its channel went)."""
    if isinstance(event, MessageStreamError):
        return event.final
    return not isinstance(event, MessageStreamChunk)


@dataclass
class AgentExchange:
    """One request waiting for an agent's answer. ``extra`` joins the answer's body (a
    session's ``sessionStatus``); with ``mirror_in_data`` the body is repeated under ``data``,
    which is what the SDK returns of a body with ``success`` (the sessions routes)."""

    waiter: EventWaiter
    transport: str
    user_message: dict[str, Any]
    agent_id: uuid.UUID
    extra: dict[str, Any] = field(default_factory=dict)
    mirror_in_data: bool = False

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, **self.extra}
        return {**body, "data": dict(body)} if self.mirror_in_data else body

    async def respond(self) -> HttpResponseBase:
        if self.transport == "sse":
            response = StreamingHttpResponse(self._stream(), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response
        try:
            return await self._answer()
        finally:
            self.waiter.close()

    async def _events(self) -> AsyncIterator[BusEvent]:
        """What the answering agent does about the message, in order, up to and including its
        outcome; it ends without one when the agent took too long. What other agents of the
        channel do about the message is not this exchange's answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + app_settings.AGENT_REPLY_TIMEOUT_SECONDS
        agent_key = str(self.agent_id)
        while (remaining := deadline - loop.time()) > 0:
            event = await self.waiter.aget(remaining)
            if event is None:
                return
            if _author(event) != agent_key:
                continue
            yield event
            if _is_outcome(event):
                return

    async def _outcome(self) -> BusEvent | None:
        """The answering agent's outcome (:func:`_is_outcome`); None when it took too long."""
        outcome = None
        async for event in self._events():
            outcome = event
        return outcome if outcome is not None and _is_outcome(outcome) else None

    async def _answer(self) -> HttpResponse:
        outcome = await self._outcome()
        base = {"userMessage": self.user_message}
        if isinstance(outcome, NewMessage):
            body = {"success": True, **base, "agentResponse": agent_response(outcome)}
            return JsonResponse(self._body(body), status=201)
        if isinstance(outcome, MessageComplete):
            body = {"success": True, **base, "agentResponse": None}
            return JsonResponse(self._body(body), status=201)
        if isinstance(outcome, MessageError | MessageStreamError):
            body = {**error_body("AGENT_ERROR", outcome.error), **base, **self.extra}
            return JsonResponse(body, status=502)
        timeout = app_settings.AGENT_REPLY_TIMEOUT_SECONDS
        body = {
            **error_body("AGENT_TIMEOUT", f"The agent did not answer within {timeout}s"),
            **base,
            **self.extra,
        }
        return JsonResponse(body, status=504)

    async def _stream(self) -> AsyncIterator[str]:
        """``user_message``, a ``chunk`` per piece as the agent streams it, then ``done`` or
        ``error`` (docs/agents.md, "The http and sse transports")."""
        try:
            yield sse_event("user_message", self.user_message)
            outcome: BusEvent | None = None
            streamed = False
            async for event in self._events():
                if isinstance(event, MessageStreamChunk):
                    streamed = True
                    yield sse_event("chunk", stream_chunk(event))
                elif _is_outcome(event):
                    outcome = event
            if isinstance(outcome, NewMessage):
                if not streamed:
                    # An agent that does not stream (one hosted outside may not): one piece.
                    chunk = {"messageId": outcome.id, "chunk": outcome.content, "index": 0}
                    yield sse_event("chunk", chunk)
                yield sse_event("done", agent_response(outcome))
            elif isinstance(outcome, MessageComplete):
                yield sse_event("done", {"text": "", "actions": ["IGNORE"]})
            elif isinstance(outcome, MessageError | MessageStreamError):
                yield sse_event("error", {"error": outcome.error})
            else:
                yield sse_event("error", {"error": "The agent did not answer in time"})
        finally:
            self.waiter.close()


def stream_chunk(event: MessageStreamChunk) -> dict[str, Any]:
    """A streamed piece as the ``sse`` transport writes it: ``{messageId, chunk, index}``."""
    return {"messageId": event.message_id, "chunk": event.chunk, "index": event.index}


# The elizaOS web UI 1.7.2's sessions chat reads only the data lines, by their ``type``
# (``chunk`` with its ``text``, ``complete``, ``error``); the reference's clients and the SDK read
# the event names. The data carries both, so the stream shows in both.
_UI_TYPES = {"chunk": "chunk", "done": "complete", "error": "error"}


def sse_event(name: str, data: Any) -> str:
    if name in _UI_TYPES and isinstance(data, dict):
        data = {**data, "type": _UI_TYPES[name]}
        if name == "chunk":
            data["text"] = data["chunk"]
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class AgentExchangeMiddleware:
    """Finishes the ``http`` and ``sse`` exchanges on the event loop, outside the other
    middleware.

    The outermost middleware, async only: a view that starts an exchange returns a response
    carrying ``agent_exchange``, and the answer replaces it here, keeping the headers the other
    middleware added (CORS, security). No thread waits for the agent.
    """

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        exchange = getattr(response, "agent_exchange", None)
        if exchange is None:
            return response
        answer = await exchange.respond()
        for header, value in response.items():
            if header.lower() not in {"content-type", "content-length"}:
                answer.setdefault(header, value)
        return answer
