"""What the memory API (``/api/memory``) changes in agents' memories: edit, forget one, forget
all of an agent's, forget every agent's of a message server. An agent's own recording and
forgetting, as it handles bus events, is in :mod:`.agents`.

Memories are an agent's private record: these writes publish no event, as the agent's own do
not.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from elizabus.exceptions import MemoryNotFound, ServerNotFound
from elizabus.models import Memory, MessageServer


def _memory(agent_id: uuid.UUID, memory_id: uuid.UUID) -> Memory:
    memory = Memory.objects.select_for_update().filter(agent_id=agent_id, id=memory_id).first()
    if memory is None:
        raise MemoryNotFound()
    return memory


@transaction.atomic
def memory_update(
    *,
    agent_id: uuid.UUID,
    memory_id: uuid.UUID,
    content: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Memory:
    """Replaces a memory's ``content`` and ``metadata``, each only when given."""
    memory = _memory(agent_id, memory_id)
    fields = []
    if content is not None:
        memory.content = content
        fields.append("content")
    if metadata is not None:
        memory.metadata = metadata
        fields.append("metadata")
    if fields:
        memory.save(update_fields=fields)
    return memory


@transaction.atomic
def memory_delete(*, agent_id: uuid.UUID, memory_id: uuid.UUID) -> None:
    """Forgets one memory of an agent."""
    _memory(agent_id, memory_id).delete()


@transaction.atomic
def memory_clear(*, agent_id: uuid.UUID) -> int:
    """Forgets every memory of an agent; returns how many. The agent answers a message again
    only if it is delivered again: forgetting does not replay the bus."""
    deleted, _ = Memory.objects.filter(agent_id=agent_id).delete()
    return deleted


@transaction.atomic
def memory_forget_server(*, server_id: uuid.UUID) -> int:
    """Forgets every agent's memories of a message server (an elizaOS world); returns how
    many. The server, its channels and their messages stay."""
    if not MessageServer.objects.filter(id=server_id).exists():
        raise ServerNotFound()
    deleted, _ = Memory.objects.filter(server_id=server_id).delete()
    return deleted
