"""An agent's memories, rooms and worlds on the wire, as elizaOS names them."""

from __future__ import annotations

import uuid
from typing import Any

from elizabus.js import epoch_ms, iso
from elizabus.models import (
    Channel,
    Memory,
    MessageServer,
)


def memory_data(memory: Memory) -> dict[str, Any]:
    """As an elizaOS ``Memory``: ``roomId`` is the channel, ``entityId`` the author."""
    return {
        "id": str(memory.id),
        "agentId": str(memory.agent_id),
        "entityId": str(memory.author_id),
        "roomId": str(memory.channel_id),
        "channelId": str(memory.channel_id),
        "messageServerId": str(memory.server_id),
        "messageId": str(memory.message_id),
        "content": memory.content,
        "metadata": memory.metadata,
        "createdAt": epoch_ms(memory.created_at),
    }


def room_data(channel: Channel, agent_id: uuid.UUID) -> dict[str, Any]:
    """A channel as an agent's elizaOS ``Room``: in elizabus the room is the channel itself, so
    ``id`` and ``channelId`` are one id, and its world is its message server."""
    return {
        "id": str(channel.id),
        "name": channel.name,
        "agentId": str(agent_id),
        "source": channel.source_type or "central-bus",
        "type": channel.type,
        "channelId": str(channel.id),
        "messageServerId": str(channel.server_id),
        "worldId": str(channel.server_id),
        "metadata": channel.metadata,
        "createdAt": iso(channel.created_at),
        "updatedAt": iso(channel.updated_at),
    }


def world_data(server: MessageServer, agent_id: uuid.UUID) -> dict[str, Any]:
    """A message server as an agent's elizaOS ``World``."""
    return {
        "id": str(server.id),
        "name": server.name,
        "agentId": str(agent_id),
        "messageServerId": str(server.id),
        "metadata": server.metadata,
    }
