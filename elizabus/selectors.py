"""Reads. Each returns a queryset or plain values with its joins already chosen.

May import models, and the column list of ``elizabus.db.rows``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db.models import Q, QuerySet

from elizabus.db.rows import MESSAGE_COLUMNS
from elizabus.models import (
    CENTRAL_CHANNEL_ID,
    Agent,
    Channel,
    Entity,
    Memory,
    Message,
    MessageServer,
    Participant,
    ServerAgent,
)


def server_list() -> QuerySet[MessageServer]:
    return MessageServer.objects.order_by("created_at")


def server_get(server_id: uuid.UUID) -> MessageServer | None:
    return MessageServer.objects.filter(id=server_id).first()


def server_agent_ids(server_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        ServerAgent.objects.filter(server_id=server_id)
        .order_by("created_at")
        .values_list("agent_id", flat=True)
    )


def agent_server_ids(agent_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        ServerAgent.objects.filter(agent_id=agent_id)
        .order_by("created_at")
        .values_list("server_id", flat=True)
    )


def channel_get(channel_id: uuid.UUID) -> Channel | None:
    return Channel.objects.filter(id=channel_id).first()


def channel_list(server_id: uuid.UUID) -> QuerySet[Channel]:
    return Channel.objects.filter(server_id=server_id).order_by("created_at")


def channel_participants(channel_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        Participant.objects.filter(channel_id=channel_id)
        .order_by("created_at", "id")
        .values_list("entity_id", flat=True)
    )


def channel_is_participant(*, channel_id: uuid.UUID, entity_id: uuid.UUID) -> bool:
    return Participant.objects.filter(channel_id=channel_id, entity_id=entity_id).exists()


def channel_may_join(*, channel_id: uuid.UUID, entity_id: uuid.UUID) -> bool:
    """A socket may join the central channel, and any channel its entity participates in."""
    return channel_id == CENTRAL_CHANNEL_ID or channel_is_participant(
        channel_id=channel_id, entity_id=entity_id
    )


def message_list(
    *, channel_id: uuid.UUID, limit: int = 50, before: dt.datetime | None = None
) -> QuerySet[Message]:
    """The newest ``limit`` messages of a channel, newest first; ``before`` is exclusive."""
    queryset = Message.objects.filter(channel_id=channel_id)
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    return queryset.order_by("-created_at", "-id")[:limit]


def message_row(message: Message) -> dict[str, Any]:
    """A stored message as a row of :data:`MESSAGE_COLUMNS`."""
    return {column: getattr(message, column) for column in MESSAGE_COLUMNS}


def messages_after(*, channel_id: uuid.UUID, message_id: uuid.UUID, limit: int) -> list[Message]:
    """What a client that last saw ``message_id`` missed, oldest first (at most ``limit``).

    An unknown ``message_id`` (deleted, or from another channel) yields nothing rather than the
    whole history: the client then reloads the history over REST as usual.
    """
    last_seen = (
        Message.objects.filter(id=message_id, channel_id=channel_id)
        .values_list("created_at", flat=True)
        .first()
    )
    if last_seen is None:
        return []
    # (created_at, id) is the channel's order: a message stored in the same microsecond as the
    # last one seen but after it in that order was missed too.
    newer = Message.objects.filter(channel_id=channel_id).filter(
        Q(created_at__gt=last_seen) | Q(created_at=last_seen, id__gt=message_id)
    )
    return list(newer.order_by("created_at", "id")[:limit])


def entity_names(entity_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {
        entity.id: entity.display_name
        for entity in Entity.objects.filter(id__in=entity_ids).only("id", "names")
    }


def agent_list() -> QuerySet[Agent]:
    return Agent.objects.select_related("entity").order_by("created_at")


def agent_get(agent_id: uuid.UUID) -> Agent | None:
    return Agent.objects.select_related("entity").filter(entity_id=agent_id).first()


def enabled_agent_count() -> int:
    return Agent.objects.filter(enabled=True).count()


def channel_answering_agent(
    *, channel_id: uuid.UUID, author_id: uuid.UUID, preferred: uuid.UUID | None = None
) -> uuid.UUID | None:
    """The agent that answers ``author_id`` in a channel: ``preferred`` when it is a registered
    agent, else the first agent to have joined the channel other than the author (B1.2 step 5)."""
    if preferred is not None and Agent.objects.filter(entity_id=preferred).exists():
        return preferred
    return (
        Participant.objects.filter(channel_id=channel_id, entity__agent__isnull=False)
        .exclude(entity_id=author_id)
        .order_by("created_at", "id")
        .values_list("entity_id", flat=True)
        .first()
    )


def memory_list(
    *,
    agent_id: uuid.UUID,
    channel_id: uuid.UUID | None = None,
    limit: int = 50,
    before: dt.datetime | None = None,
) -> QuerySet[Memory]:
    """An agent's memories, newest first, optionally of one channel (room)."""
    queryset = Memory.objects.filter(agent_id=agent_id)
    if channel_id is not None:
        queryset = queryset.filter(channel_id=channel_id)
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    return queryset.order_by("-created_at", "-id")[:limit]


def memory_exists(*, agent_id: uuid.UUID, message_id: uuid.UUID | str) -> bool:
    """Whether the agent remembers the message: it has handled it."""
    return Memory.objects.filter(agent_id=agent_id, message_id=message_id).exists()
