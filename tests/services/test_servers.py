"""Server services: creating message servers, and agents' subscriptions, announced as
``server_agent_update`` only when the subscription really changed."""

from __future__ import annotations

import uuid

import pytest

from elizabus import selectors, services
from elizabus.bus.events import ServerAgentUpdate
from elizabus.exceptions import NotFound
from elizabus.models import DEFAULT_SERVER_ID, MessageServer
from tests import factories
from tests.conftest import Published, World

pytestmark = pytest.mark.django_db


def server_agent_update(kind: str, server_id: uuid.UUID, agent_id: uuid.UUID) -> ServerAgentUpdate:
    return ServerAgentUpdate(
        type=f"agent_{kind}_server", message_server_id=str(server_id), agent_id=str(agent_id)
    )


def test_server_create_with_a_taken_id_returns_the_server_unchanged(db: None) -> None:
    server_id = uuid.uuid4()
    first = services.server_create(name="first", source_type="test", server_id=server_id)
    second = services.server_create(name="second", source_type="other", server_id=server_id)
    assert second == first
    assert MessageServer.objects.get(id=server_id).name == "first"


def test_the_default_server_exists_from_the_first_migration(db: None) -> None:
    assert selectors.server_get(DEFAULT_SERVER_ID) is not None


def test_server_agent_add_publishes_only_a_new_subscription(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    agent_id, server_id = world.agent.entity_id, factories.make_server().id
    with django_capture_on_commit_callbacks(execute=True):
        first = services.server_agent_add(server_id=server_id, agent_id=agent_id)
        second = services.server_agent_add(server_id=server_id, agent_id=agent_id)
    assert (first, second) == (True, False)
    assert published.events == [server_agent_update("added_to", server_id, agent_id)]
    assert selectors.agent_server_ids(agent_id) == [DEFAULT_SERVER_ID, world.server.id, server_id]


def test_server_agent_remove_publishes_only_a_real_unsubscription(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    agent_id = world.agent.entity_id
    with django_capture_on_commit_callbacks(execute=True):
        first = services.server_agent_remove(server_id=world.server.id, agent_id=agent_id)
        second = services.server_agent_remove(server_id=world.server.id, agent_id=agent_id)
    assert (first, second) == (True, False)
    assert published.events == [server_agent_update("removed_from", world.server.id, agent_id)]
    assert selectors.server_agent_ids(world.server.id) == []


@pytest.mark.parametrize(
    ("unknown", "code"), [("server", "SERVER_NOT_FOUND"), ("agent", "AGENT_NOT_FOUND")]
)
def test_subscribing_needs_a_known_server_and_agent(
    unknown: str, code: str, world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    server_id = uuid.uuid4() if unknown == "server" else world.server.id
    agent_id = world.bob if unknown == "agent" else world.agent.entity_id  # Bob is no agent
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotFound) as raised:
        services.server_agent_add(server_id=server_id, agent_id=agent_id)
    assert raised.value.code == code
    assert published.events == []
