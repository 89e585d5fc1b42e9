"""The invariants the database enforces: unique links and UUID primary keys.

Duplicates are written with the ORM on purpose: the services are idempotent and would never try,
so only a direct write shows that the constraint, not the service, refuses them.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, models, transaction

from elizabus.models import (
    Agent,
    Channel,
    Entity,
    Memory,
    Message,
    MessageServer,
    Participant,
    ServerAgent,
)
from tests.factories import (
    make_agent,
    make_channel,
    make_memory,
    make_message,
    make_server,
    make_user,
)

pytestmark = pytest.mark.django_db


def assert_refused(model: type[models.Model], **fields: object) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**fields)


def test_a_participant_is_unique_per_channel_and_entity() -> None:
    user = make_user()
    channel = make_channel(participant_ids=[user.id])

    assert_refused(Participant, channel=channel, entity=user)


def test_the_same_entity_may_join_two_channels() -> None:
    user = make_user()
    make_channel(participant_ids=[user.id])
    make_channel(participant_ids=[user.id])

    assert Participant.objects.filter(entity=user).count() == 2


def test_a_memory_is_unique_per_agent_and_message() -> None:
    message = make_message(channel_id=make_channel().id)
    agent = make_agent()
    make_memory(agent=agent, message=message)

    assert_refused(
        Memory,
        agent=agent,
        message_id=message.id,
        channel_id=message.channel_id,
        server_id=uuid.uuid4(),
        author_id=message.author_id,
        created_at=message.created_at,
    )


def test_two_agents_may_remember_the_same_message() -> None:
    message = make_message(channel_id=make_channel().id)
    make_memory(agent=make_agent(name="one"), message=message)
    make_memory(agent=make_agent(name="two"), message=message)

    assert Memory.objects.filter(message_id=message.id).count() == 2


def test_a_server_subscription_is_unique_per_server_and_agent() -> None:
    server = make_server()
    agent = make_agent(server_ids=[server.id])

    assert_refused(ServerAgent, server=server, agent=agent)


@pytest.mark.parametrize(
    "model", [MessageServer, Channel, Entity, Message, Memory, Agent], ids=lambda m: m.__name__
)
def test_primary_keys_are_uuids(model: type[models.Model]) -> None:
    # Agent's key is its entity's: a one-to-one onto Entity's UUID.
    key = model._meta.pk.target_field if model._meta.pk.is_relation else model._meta.pk
    assert isinstance(key, models.UUIDField)


def test_rows_made_by_services_get_uuid_keys() -> None:
    channel = make_channel(server_id=make_server().id)
    message = make_message(channel_id=channel.id)

    for row in (channel.server, channel, message, message.author):
        assert isinstance(row.pk, uuid.UUID)


def test_an_unnamed_entity_is_shown_by_its_id_prefix() -> None:
    user = make_user()

    assert user.display_name == f"User-{str(user.id)[:8]}"
    assert make_user(name="Ada").display_name == "Ada"
