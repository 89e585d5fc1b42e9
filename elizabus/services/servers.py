"""Message servers and agents' subscriptions to them."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from elizabus.bus.events import ServerAgentUpdate
from elizabus.bus.publish import publish
from elizabus.exceptions import AgentNotFound, ServerNotFound
from elizabus.models import Agent, MessageServer, ServerAgent


@transaction.atomic
def server_create(
    *,
    name: str,
    source_type: str,
    source_id: str = "",
    metadata: dict[str, Any] | None = None,
    server_id: uuid.UUID | None = None,
) -> MessageServer:
    """Creates a message server; an existing ``server_id`` is returned unchanged (idempotent)."""
    server, _ = MessageServer.objects.get_or_create(
        id=server_id or uuid.uuid4(),
        defaults={
            "name": name,
            "source_type": source_type,
            "source_id": source_id,
            "metadata": metadata or {},
        },
    )
    return server


def _server_and_agent(server_id: uuid.UUID, agent_id: uuid.UUID) -> tuple[MessageServer, Agent]:
    server = MessageServer.objects.filter(id=server_id).first()
    if server is None:
        raise ServerNotFound(f"Message server {server_id} not found")
    agent = Agent.objects.filter(entity_id=agent_id).first()
    if agent is None:
        raise AgentNotFound(f"Agent {agent_id} not found")
    return server, agent


@transaction.atomic
def server_agent_add(*, server_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Subscribes an agent to a server. Returns whether it was new; publishes only then."""
    server, agent = _server_and_agent(server_id, agent_id)
    _, created = ServerAgent.objects.get_or_create(server=server, agent=agent)
    if created:
        publish(
            ServerAgentUpdate(
                type="agent_added_to_server",
                message_server_id=str(server_id),
                agent_id=str(agent_id),
            )
        )
    return created


@transaction.atomic
def server_agent_remove(*, server_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Unsubscribes an agent from a server. Returns whether it was subscribed."""
    deleted, _ = ServerAgent.objects.filter(server_id=server_id, agent_id=agent_id).delete()
    if deleted:
        publish(
            ServerAgentUpdate(
                type="agent_removed_from_server",
                message_server_id=str(server_id),
                agent_id=str(agent_id),
            )
        )
    return bool(deleted)
