"""Entities appear on first sight of their client-chosen UUID (docs/architecture.md, "The entity
model")."""

from __future__ import annotations

import uuid

import pytest

from elizabus import services
from elizabus.models import Entity, EntityKind
from tests.conftest import Published, World

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("name", "names"), [("Zed", ["Zed"]), ("", [])], ids=["named", "bare"])
def test_an_unknown_id_becomes_a_user(name: str, names: list[str]) -> None:
    entity_id = uuid.uuid4()
    services.entity_ensure(entity_id=entity_id, name=name)
    entity = Entity.objects.get(id=entity_id)
    assert (entity.kind, entity.names) == (EntityKind.USER, names)


def test_a_known_entity_is_left_unchanged(world: World) -> None:
    services.entity_ensure(entity_id=world.agent.entity_id, name="Impostor")
    agent = Entity.objects.get(id=world.agent.entity_id)
    assert (agent.kind, agent.names) == (EntityKind.AGENT, ["Eliza"])
    services.entity_ensure(entity_id=world.alice)
    assert Entity.objects.get(id=world.alice).names == ["Alice"]


def test_a_bare_user_is_displayed_by_its_id() -> None:
    entity_id = uuid.UUID("1234abcd-0000-4000-8000-000000000000")
    services.entity_ensure(entity_id=entity_id)
    assert Entity.objects.get(id=entity_id).display_name == "User-1234abcd"


def test_entity_ensure_publishes_nothing(
    published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.entity_ensure(entity_id=uuid.uuid4(), name="Quiet")
    assert published.events == []
