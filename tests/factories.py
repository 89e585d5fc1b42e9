"""Rows for tests, made the way the application makes them: through the services.

Plain functions, keyword-only, each returning the stored row. Calling a factory inside a test
publishes the same bus events as the application does (after commit).

May import models and services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from elizabus import services
from elizabus.models import (
    DEFAULT_SERVER_ID,
    Agent,
    Channel,
    ChannelType,
    Entity,
    Memory,
    Message,
    MessageServer,
)


def make_server(
    *, name: str = "Test Server", source_type: str = "test", **kwargs: Any
) -> MessageServer:
    """A new message server (``server_create``)."""
    return services.server_create(name=name, source_type=source_type, **kwargs)


def make_user(*, name: str = "", entity_id: uuid.UUID | None = None) -> Entity:
    """A user entity (``entity_ensure``)."""
    entity_id = entity_id or uuid.uuid4()
    services.entity_ensure(entity_id=entity_id, name=name)
    return Entity.objects.get(id=entity_id)


def make_channel(
    *,
    server_id: uuid.UUID = DEFAULT_SERVER_ID,
    name: str = "Test Channel",
    type: str = ChannelType.GROUP,
    participant_ids: Iterable[uuid.UUID] = (),
    **kwargs: Any,
) -> Channel:
    """A channel on the default server unless ``server_id`` says otherwise (``channel_create``)."""
    return services.channel_create(
        server_id=server_id, name=name, type=type, participant_ids=participant_ids, **kwargs
    )


def make_message(
    *,
    channel_id: uuid.UUID,
    author_id: uuid.UUID | None = None,
    content: str = "Hello",
    **kwargs: Any,
) -> Message:
    """A message in ``channel_id``, by a new user unless ``author_id`` is given
    (``message_create``)."""
    return services.message_create(
        channel_id=channel_id, author_id=author_id or uuid.uuid4(), content=content, **kwargs
    )


def make_agent(
    *, name: str = "Test Agent", server_ids: Iterable[uuid.UUID] = (), **fields: Any
) -> Agent:
    """An agent (``agent_register``: subscribed to the default server and seated in the central
    channel), also subscribed to ``server_ids`` (``server_agent_add``)."""
    agent = services.agent_register(name=name, **fields)
    for server_id in server_ids:
        services.server_agent_add(server_id=server_id, agent_id=agent.pk)
    return agent


def make_memory(*, agent: Agent, message: Message) -> Memory:
    """``agent``'s memory of ``message`` (``memory_record``, from the message's bus event)."""
    event = services.message_event(message, server_id=message.channel.server_id)
    services.memory_record(agent_id=agent.pk, message=event)
    return Memory.objects.get(agent=agent, message_id=message.id)
