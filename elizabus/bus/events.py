"""The catalogue of bus events: one frozen dataclass per wire name, each with its own signal.

Events carry ids and primitives only, never model instances, so they can cross a process
boundary unchanged. Every event is published through :func:`elizabus.bus.publish.publish`, which
sends it only after the surrounding transaction commits: a receiver never sees a row that is later
rolled back. Who listens to what is in :mod:`elizabus.wiring`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.dispatch import Signal


@dataclass(frozen=True)
class BusEvent:
    """Base of every event. ``name`` is the wire name; ``signal`` carries it in process."""

    name: ClassVar[str]
    signal: ClassVar[Signal]

    def payload(self) -> dict[str, Any]:
        """The event as the elizaOS bus spells it (docs/bus.md, "The events")."""
        return dataclasses.asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """Every field, for transports; :meth:`from_dict` restores the event."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BusEvent:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class NewMessage(BusEvent):
    """``new_message``: a message was stored in a channel (``MessageServiceStructure``).

    Emitted by ``message_create`` for every message: REST posts, ``/submit``, ``/ingest-external``,
    socket sends and agent replies alike (the reference leaves agent replies off the bus; elizabus
    puts them on it). Not emitted when the transaction that stored it rolls back.
    Consumers: the real-time layer (``messageBroadcast``) and every running bus agent.
    ``seq`` is the message's place in its channel (an elizabus field; 0 in an event written
    before messages had one).
    """

    name: ClassVar[str] = "new_message"
    signal: ClassVar[Signal] = Signal()

    id: str
    channel_id: str
    message_server_id: str
    author_id: str
    content: str
    created_at: int
    author_display_name: str = ""
    raw_message: dict[str, Any] | None = None
    source_id: str = ""
    source_type: str = ""
    in_reply_to_message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    seq: int = 0


@dataclass(frozen=True)
class MessageUpdated(NewMessage):
    """``message_updated``: a stored message changed (``PATCH /action/:id``); same fields.

    Consumers: the real-time layer, which re-sends ``messageBroadcast`` with the same id. Agents
    do not listen: an edited action badge is not a new message to answer.
    """

    name: ClassVar[str] = "message_updated"
    signal: ClassVar[Signal] = Signal()


@dataclass(frozen=True)
class MessageDeleted(BusEvent):
    """``message_deleted``: one message was deleted from its channel.

    Emitted by ``message_delete``; not emitted for messages removed by clearing or deleting a
    channel (``channel_cleared`` covers those). Consumers: the real-time layer
    (``messageDeleted``) and bus agents, which forget their memory of the message. ``seq`` is
    the deleted message's (an elizabus field, left off the wire when 0: an event written before
    messages had one).
    """

    name: ClassVar[str] = "message_deleted"
    signal: ClassVar[Signal] = Signal()

    message_id: str
    channel_id: str
    seq: int = 0

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"messageId": self.message_id, "channelId": self.channel_id}
        if self.seq:
            payload["seq"] = self.seq
        return payload


@dataclass(frozen=True)
class ChannelCleared(BusEvent):
    """``channel_cleared``: every message of a channel was deleted.

    Emitted by ``channel_clear`` and by ``channel_delete`` (before ``channel_deleted``).
    Consumers: the real-time layer (``channelCleared``, only for a clear) and bus agents,
    which forget their memories of the channel.
    """

    name: ClassVar[str] = "channel_cleared"
    signal: ClassVar[Signal] = Signal()

    channel_id: str
    message_count: int = 0
    channel_deleted: bool = False

    def payload(self) -> dict[str, Any]:
        return {"channelId": self.channel_id, "messageCount": self.message_count}


@dataclass(frozen=True)
class ChannelUpdated(BusEvent):
    """``channel_updated``: a channel's name, metadata or participants changed.

    Emitted by ``channel_update``. Consumers: the real-time layer (``channelUpdated``) and agent
    services, whose participation cache it invalidates.
    """

    name: ClassVar[str] = "channel_updated"
    signal: ClassVar[Signal] = Signal()

    channel_id: str
    updates: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"channelId": self.channel_id, "updates": self.updates}


@dataclass(frozen=True)
class ChannelDeleted(BusEvent):
    """``channel_deleted``: a channel and its messages and participants were deleted.

    Emitted by ``channel_delete``. Consumers: the real-time layer (``channelDeleted``) and agent
    services (participation cache).
    """

    name: ClassVar[str] = "channel_deleted"
    signal: ClassVar[Signal] = Signal()

    channel_id: str

    def payload(self) -> dict[str, Any]:
        return {"channelId": self.channel_id}


@dataclass(frozen=True)
class ParticipantUpdate(BusEvent):
    """``participant_update``: an entity joined (``added``) or left (``removed``) a channel.

    Emitted by ``channel_participant_add`` and ``channel_participant_remove`` when the membership
    really changed, and by ``channel_create``/``dm_channel_get_or_create`` for the first members.
    Consumers: bus agents, whose participation cache it updates.
    """

    name: ClassVar[str] = "participant_update"
    signal: ClassVar[Signal] = Signal()

    type: str
    channel_id: str
    entity_id: str

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "channelId": self.channel_id, "entityId": self.entity_id}


@dataclass(frozen=True)
class ServerAgentUpdate(BusEvent):
    """``server_agent_update``: an agent was subscribed to or unsubscribed from a server.

    ``type`` is ``agent_added_to_server`` or ``agent_removed_from_server``. Emitted by
    ``server_agent_add`` and ``server_agent_remove`` when the subscription really changed.
    Consumers: the named agent's service, which updates its subscriptions at once.
    """

    name: ClassVar[str] = "server_agent_update"
    signal: ClassVar[Signal] = Signal()

    type: str
    message_server_id: str
    agent_id: str

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "messageServerId": self.message_server_id,
            "agentId": self.agent_id,
        }


@dataclass(frozen=True)
class MessageComplete(BusEvent):
    """``message_complete``: an agent finished with a message, whether it replied or not.

    Emitted by bus agents after each handled message, and by ``POST /complete``.
    Consumers: the real-time layer (``messageComplete``), which ends the "thinking…" state.
    """

    name: ClassVar[str] = "message_complete"
    signal: ClassVar[Signal] = Signal()

    channel_id: str
    message_server_id: str
    agent_id: str = ""
    message_id: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "channelId": self.channel_id,
            "serverId": self.message_server_id,
            "messageServerId": self.message_server_id,
            "agentId": self.agent_id,
            "messageId": self.message_id,
        }


@dataclass(frozen=True)
class MessageError(BusEvent):
    """``message:error``: an agent failed on a message (the seed's error boundary).

    Emitted by bus agents when a responder or a write fails; the agent goes on serving.
    Consumers: the real-time layer (``messageError`` to the channel) and the metrics.
    """

    name: ClassVar[str] = "message:error"
    signal: ClassVar[Signal] = Signal()

    message_id: str
    channel_id: str
    agent_id: str
    error: str

    def payload(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "channelId": self.channel_id,
            "agentId": self.agent_id,
            "error": self.error,
        }


@dataclass(frozen=True)
class AgentUpdated(BusEvent):
    """``agent_update``: an agent was registered, reconfigured, started, stopped or deleted.

    ``type`` is ``registered``, ``updated``, ``started``, ``stopped`` or ``deleted``; ``written_at``
    is when it was written (seconds since the epoch, in its transaction). Emitted by the agent
    services of :mod:`elizabus.services.agents`. Consumers: the agent runtime of every process
    that runs agents, which starts, restarts or stops that agent's service, and the keeper of
    the agent's group, once per event, which opens the group even while no process runs agents.
    """

    name: ClassVar[str] = "agent_update"
    signal: ClassVar[Signal] = Signal()

    type: str
    agent_id: str
    # When, not what: two announcements of one change are equal.
    written_at: float = field(default=0.0, compare=False)

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "agentId": self.agent_id}


@dataclass(frozen=True)
class MessageStreamChunk(BusEvent):
    """``message_stream_chunk``: a piece of an agent's reply, while the reply is produced.

    Ephemeral (:func:`elizabus.bus.publish.publish_ephemeral`): no row, no outbox entry, at most
    once, in order within one stream. ``message_id`` is the reply's own id, fixed before the first
    chunk; the stored reply's ``new_message`` ends the stream and is what counts, so a lost chunk
    loses nothing. ``index`` counts from 0 within a stream; a stream that starts again (its
    message redelivered after its agent's process died) starts again from 0.
    ``in_reply_to_message_id`` is the message being answered, which the ``sse`` exchanges wait
    on; it crosses processes with the event but is not in the payload the sockets get.
    Emitted by agents that stream. Consumers: the real-time layer (``messageStreamChunk``),
    ``sse`` waiters.
    """

    name: ClassVar[str] = "message_stream_chunk"
    signal: ClassVar[Signal] = Signal()

    channel_id: str
    message_id: str
    agent_id: str
    chunk: str
    index: int
    in_reply_to_message_id: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "channelId": self.channel_id,
            "messageId": self.message_id,
            "chunk": self.chunk,
            "index": self.index,
            "agentId": self.agent_id,
        }


@dataclass(frozen=True)
class MessageStreamError(BusEvent):
    """``message_stream_error``: a reply's stream ended without its reply: the model failed, the
    stream was cancelled, or the agent's process died and another answers in its place.

    Ephemeral, like :class:`MessageStreamChunk`; ``partial_text`` is what had been streamed.
    ``final`` says that nothing more comes about the message (it or its channel was deleted: no
    reply, no ``message:error``, no ``message_complete``); without it an outcome follows, or the
    message is answered again. ``in_reply_to_message_id`` and ``final`` are not in the payload.
    Consumers: the real-time layer (``messageStreamError``), ``sse`` waiters.
    """

    name: ClassVar[str] = "message_stream_error"
    signal: ClassVar[Signal] = Signal()

    channel_id: str
    message_id: str
    agent_id: str
    error: str
    partial_text: str = ""
    in_reply_to_message_id: str = ""
    final: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "channelId": self.channel_id,
            "messageId": self.message_id,
            "agentId": self.agent_id,
            "error": self.error,
            "partialText": self.partial_text,
        }


EVENT_TYPES: dict[str, type[BusEvent]] = {
    event.name: event
    for event in (
        NewMessage,
        MessageUpdated,
        MessageDeleted,
        ChannelCleared,
        ChannelUpdated,
        ChannelDeleted,
        ParticipantUpdate,
        ServerAgentUpdate,
        MessageComplete,
        MessageError,
        AgentUpdated,
    )
}

# Events that are never stored: they go from the writer to every process at most once
# (:func:`elizabus.bus.publish.publish_ephemeral`), not through the outbox.
EPHEMERAL_EVENT_TYPES: dict[str, type[BusEvent]] = {
    event.name: event for event in (MessageStreamChunk, MessageStreamError)
}
