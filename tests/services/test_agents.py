"""Agent services: the exact events of registering, reconfiguring, starting, stopping and deleting
an agent, of an agent's failure (``message:error``), and memories kept once per message."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from elizabus import services
from elizabus.bus.events import AgentUpdated, MessageError, ParticipantUpdate, ServerAgentUpdate
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Agent, Memory, ServerAgent
from tests.conftest import Published, World

pytestmark = pytest.mark.django_db


def test_agent_register_subscribes_seats_and_announces_the_agent(
    published: Published, django_capture_on_commit_callbacks
) -> None:
    agent_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        services.agent_register(name="Newcomer", agent_id=agent_id)
    assert published.events == [
        ServerAgentUpdate(
            type="agent_added_to_server",
            message_server_id=str(DEFAULT_SERVER_ID),
            agent_id=str(agent_id),
        ),
        ParticipantUpdate(
            type="added", channel_id=str(CENTRAL_CHANNEL_ID), entity_id=str(agent_id)
        ),
        AgentUpdated(type="registered", agent_id=str(agent_id)),
    ]


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda agent_id: services.agent_update(agent_id=agent_id, name="Renamed"), "updated"),
        (lambda agent_id: services.agent_set_enabled(agent_id=agent_id, enabled=False), "stopped"),
        (lambda agent_id: services.agent_set_enabled(agent_id=agent_id, enabled=True), "started"),
    ],
    ids=["agent_update", "agent_set_enabled(False)", "agent_set_enabled(True)"],
)
def test_agent_changes_publish_agent_updated(
    call: Callable[[uuid.UUID], object],
    kind: str,
    world: World,
    published: Published,
    django_capture_on_commit_callbacks,
) -> None:
    agent_id = world.agent.entity_id
    with django_capture_on_commit_callbacks(execute=True):
        call(agent_id)
    assert published.events == [AgentUpdated(type=kind, agent_id=str(agent_id))]


def test_agent_delete_leaves_its_channels_then_announces_it(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    agent_id = world.agent.entity_id
    services.channel_participant_add(channel_id=world.channel.id, entity_id=agent_id)
    with django_capture_on_commit_callbacks(execute=True):
        services.agent_delete(agent_id=agent_id)
    *left, last = published.events
    assert sorted(left, key=lambda event: event.channel_id) == [
        ParticipantUpdate(type="removed", channel_id=str(channel_id), entity_id=str(agent_id))
        for channel_id in sorted([CENTRAL_CHANNEL_ID, world.channel.id], key=str)
    ]
    assert last == AgentUpdated(type="deleted", agent_id=str(agent_id))
    assert not Agent.objects.filter(entity_id=agent_id).exists()
    assert not ServerAgent.objects.filter(agent_id=agent_id).exists()


def test_message_error_report_publishes_message_error(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.message_error_report(
            message_id=str(world.message.id),
            channel_id=str(world.channel.id),
            agent_id=world.agent.entity_id,
            error="x" * 600,
        )
    assert published.events == [
        MessageError(
            message_id=str(world.message.id),
            channel_id=str(world.channel.id),
            agent_id=str(world.agent.entity_id),
            error="x" * 500,
        )
    ]


def test_a_message_is_remembered_once_and_quietly(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    event = services.message_event(world.message, server_id=world.server.id)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.memory_record(agent_id=world.agent.entity_id, message=event)
        second = services.memory_record(agent_id=world.agent.entity_id, message=event)
    assert (first, second) == (True, False)
    assert Memory.objects.filter(agent=world.agent, message_id=world.message.id).count() == 1
    assert published.events == []
