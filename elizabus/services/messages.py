"""Messages: storing, updating and deleting them, and the ``new_message`` event they produce."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from elizabus import selectors
from elizabus.bus.events import MessageComplete, MessageDeleted, MessageUpdated, NewMessage
from elizabus.bus.publish import publish
from elizabus.db import rows
from elizabus.exceptions import (
    ChannelNotFound,
    DuplicateMessageId,
    MessageNotFound,
    NoAgent,
)
from elizabus.models import Message

from .channels import ensure_channel_for_post, optional_uuid, require_same_server
from .entities import entity_ensure


def message_event(
    message: Message,
    *,
    server_id: uuid.UUID,
    author_display_name: str = "",
    event_type: type[NewMessage] = NewMessage,
) -> NewMessage:
    """The bus form (``MessageServiceStructure``) of a stored message."""
    return event_type(
        id=str(message.id),
        channel_id=str(message.channel_id),
        message_server_id=str(server_id),
        author_id=str(message.author_id),
        author_display_name=author_display_name,
        content=message.content,
        raw_message=message.raw_message,
        source_id=message.source_id,
        source_type=message.source_type,
        in_reply_to_message_id=str(message.in_reply_to_id) if message.in_reply_to_id else None,
        created_at=int(message.created_at.timestamp() * 1000),
        metadata=message.metadata,
        seq=message.seq,
    )


def _same_message(
    existing: Message, channel_id: uuid.UUID, author_id: uuid.UUID, content: str
) -> bool:
    return (
        existing.channel_id == channel_id
        and existing.author_id == author_id
        and existing.content == content
    )


@transaction.atomic
def message_create(
    *,
    channel_id: uuid.UUID,
    author_id: uuid.UUID,
    content: str,
    server_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    raw_message: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    in_reply_to_message_id: uuid.UUID | None = None,
    source_type: str = "",
    source_id: str = "",
    author_display_name: str = "",
) -> Message:
    """Stores a message and puts it on the bus as ``new_message`` after commit.

    A ``message_id`` that is already stored is answered idempotently when it names the same
    message (same channel, author and content: a client retrying) and nothing is published again;
    a different message under that id is a Conflict.
    """
    taken = rows.channel_take_seq(channel_id)
    if taken is None:
        raise ChannelNotFound(f"Channel {channel_id} not found")
    channel_server_id, seq, newest = taken
    if server_id is not None:
        require_same_server(channel_id, channel_server_id, server_id)
    if message_id is not None:
        # Looked up under the channel's lock: a retry racing its original finds it stored.
        existing = Message.objects.filter(id=message_id).first()
        if existing is not None:
            if _same_message(existing, channel_id, author_id, content):
                rows.channel_give_back_seq(channel_id)
                return existing
            raise DuplicateMessageId(f"Message {message_id} already exists")
    message, _ = _message_insert(
        channel_id=channel_id,
        server_id=channel_server_id,
        seq=seq,
        newest=newest,
        message_id=message_id or uuid.uuid4(),
        author_id=author_id,
        content=content,
        raw_message=raw_message,
        metadata=metadata,
        in_reply_to_message_id=in_reply_to_message_id,
        source_type=source_type,
        source_id=source_id,
        author_display_name=author_display_name,
    )
    return message


def _message_insert(
    *,
    channel_id: uuid.UUID,
    server_id: uuid.UUID,
    seq: int,
    newest: dt.datetime | None,
    message_id: uuid.UUID,
    author_id: uuid.UUID,
    content: str,
    raw_message: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    in_reply_to_message_id: uuid.UUID | None,
    source_type: str,
    source_id: str,
    author_display_name: str,
) -> tuple[Message, NewMessage]:
    """Stores a message as the ``seq`` taken from its channel (whose newest message is from
    ``newest``), and publishes it; returns it and its bus form."""
    entity_ensure(entity_id=author_id, name=author_display_name)
    message = Message(
        id=message_id,
        channel_id=channel_id,
        author_id=author_id,
        content=content,
        raw_message=raw_message,
        metadata=metadata or {},
        in_reply_to_id=in_reply_to_message_id,
        source_type=source_type,
        source_id=source_id,
        created_at=_next_created_at(newest),
        seq=seq,
    )
    rows.insert(message)
    event = message_event(message, server_id=server_id, author_display_name=author_display_name)
    publish(event)
    return message, event


def _next_created_at(newest: dt.datetime | None) -> dt.datetime:
    """Now, or a millisecond after the channel's ``newest`` message if that is later: clients
    page by epoch ms, so a millisecond shared by two messages would hide one of them."""
    now = timezone.now()
    if newest is None:
        return now
    next_free = newest.replace(microsecond=newest.microsecond // 1000 * 1000) + dt.timedelta(
        milliseconds=1
    )
    return max(now, next_free)


@transaction.atomic
def channel_message_post(
    *,
    channel_id: uuid.UUID,
    server_id: uuid.UUID,
    author_id: uuid.UUID,
    content: str,
    metadata: dict[str, Any],
    needs_agent: bool,
    message_id: uuid.UUID | None = None,
    raw_message: dict[str, Any] | None = None,
    in_reply_to_message_id: uuid.UUID | None = None,
    source_type: str = "",
    source_id: str = "",
    author_display_name: str = "",
    channel_metadata: dict[str, Any] | None = None,
    created_by: str = "gui_auto_creation",
) -> tuple[NewMessage, uuid.UUID | None]:
    """A client's post to a channel (``POST /channels/:id/messages``, a socket's send): the channel
    is created on first use (from ``channel_metadata``, else ``metadata``), and with
    ``needs_agent`` an agent must be there to answer, else nothing is stored.
    ``message_id``, when given, is new (the caller made it to wait for the answer), so it is not
    looked up.
    Returns the stored message's bus form and the answering agent."""
    taken = rows.channel_take_seq(channel_id)
    if taken is None:
        ensure_channel_for_post(
            channel_id=channel_id,
            server_id=server_id,
            author_id=author_id,
            metadata=metadata if channel_metadata is None else channel_metadata,
            created_by=created_by,
        )
        taken = rows.channel_take_seq(channel_id)
        if taken is None:
            raise ChannelNotFound(f"Channel {channel_id} not found")
    else:
        require_same_server(channel_id, taken[0], server_id)
    _, seq, newest = taken
    agent_id = None
    if needs_agent:
        agent_id = selectors.channel_answering_agent(
            channel_id=channel_id,
            author_id=author_id,
            preferred=optional_uuid(metadata.get("targetAgentId")),
        )
        if agent_id is None:
            raise NoAgent()
    _, event = _message_insert(
        channel_id=channel_id,
        server_id=server_id,
        seq=seq,
        newest=newest,
        message_id=message_id or uuid.uuid4(),
        author_id=author_id,
        content=content,
        raw_message=raw_message,
        metadata=metadata,
        in_reply_to_message_id=in_reply_to_message_id,
        source_type=source_type,
        source_id=source_id,
        author_display_name=author_display_name,
    )
    return event, agent_id


@transaction.atomic
def message_update(
    *,
    message_id: uuid.UUID,
    content: str | None = None,
    raw_message: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    source_type: str | None = None,
    in_reply_to_message_id: uuid.UUID | None = None,
    author_id: uuid.UUID | None = None,
) -> Message:
    """Changes the given fields of a message (each omitted field keeps its value) and announces
    it as ``message_updated``."""
    message = (
        Message.objects.select_for_update().select_related("channel").filter(id=message_id).first()
    )
    if message is None:
        raise MessageNotFound()
    changes = {
        "content": content,
        "raw_message": raw_message,
        "metadata": metadata,
        "source_type": source_type,
        "in_reply_to_id": in_reply_to_message_id,
    }
    for field_name, value in changes.items():
        if value is not None:
            setattr(message, field_name, value)
    if author_id is not None:
        entity_ensure(entity_id=author_id)
        message.author_id = author_id
    message.save()
    publish(message_event(message, server_id=message.channel.server_id, event_type=MessageUpdated))
    return message


@transaction.atomic
def message_delete(*, channel_id: uuid.UUID, message_id: uuid.UUID) -> None:
    """Deletes one message of ``channel_id``; a message of another channel is NotFound (the
    reference deletes it anyway)."""
    found = Message.objects.filter(id=message_id, channel_id=channel_id)
    # Its seq goes with the event: a client tells the gap it leaves from a lost message.
    seq = found.values_list("seq", flat=True).first()
    if seq is None or not found.delete()[0]:
        raise MessageNotFound("Message not found in this channel")
    publish(MessageDeleted(message_id=str(message_id), channel_id=str(channel_id), seq=seq))


def message_complete_announce(
    *,
    channel_id: uuid.UUID,
    server_id: uuid.UUID,
    agent_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
) -> None:
    """Announces that an agent is done with a message, replied or not (``message_complete``)."""
    publish(
        MessageComplete(
            channel_id=str(channel_id),
            message_server_id=str(server_id),
            agent_id=str(agent_id) if agent_id else "",
            message_id=str(message_id) if message_id else "",
        )
    )
