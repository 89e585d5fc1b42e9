"""Channel services: creation and the DM rule, participants, clearing and deleting, and the exact
events each publishes after commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from elizabus import selectors, services
from elizabus.bus.events import (
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    NewMessage,
    ParticipantUpdate,
)
from elizabus.exceptions import InvalidInput, NotFound
from elizabus.models import (
    DEFAULT_SERVER_ID,
    Channel,
    ChannelType,
    Entity,
    EntityKind,
    Message,
    Participant,
)
from tests import factories
from tests.conftest import Published, World

pytestmark = pytest.mark.django_db


def name_of(function: Callable[..., object]) -> str:
    return function.__name__


def added(channel_id: uuid.UUID, *entity_ids: uuid.UUID) -> list[ParticipantUpdate]:
    return [
        ParticipantUpdate(type="added", channel_id=str(channel_id), entity_id=str(entity_id))
        for entity_id in entity_ids
    ]


def removed(channel_id: uuid.UUID, *entity_ids: uuid.UUID) -> list[ParticipantUpdate]:
    return [
        ParticipantUpdate(type="removed", channel_id=str(channel_id), entity_id=str(entity_id))
        for entity_id in entity_ids
    ]


# --- channel_create ------------------------------------------------------------------------------


def test_channel_create_announces_each_first_member_once(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    newcomer = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        channel = services.channel_create(
            server_id=world.server.id,
            name="ops",
            type="group",
            participant_ids=[world.bob, newcomer, world.bob],
            metadata={"purpose": "ops"},
        )
    assert published.events == added(channel.id, world.bob, newcomer)
    assert (channel.type, channel.metadata) == (ChannelType.GROUP, {"purpose": "ops"})
    assert selectors.channel_participants(channel.id) == [world.bob, newcomer]
    assert Entity.objects.get(id=newcomer).kind == EntityKind.USER


def test_channel_create_keeps_a_chosen_id_and_refuses_a_taken_one(world: World) -> None:
    chosen = uuid.uuid4()
    assert services.channel_create(server_id=world.server.id, name="a", channel_id=chosen).id == (
        chosen
    )
    with pytest.raises(InvalidInput) as raised:
        services.channel_create(server_id=world.server.id, name="b", channel_id=chosen)
    assert raised.value.code == "CHANNEL_EXISTS"


def test_channel_create_on_an_unknown_server_is_not_found(db: None) -> None:
    with pytest.raises(NotFound) as raised:
        services.channel_create(server_id=uuid.uuid4(), name="nowhere")
    assert raised.value.code == "SERVER_NOT_FOUND"


# --- the DM rule ---------------------------------------------------------------------------------


def test_dm_channel_name_is_symmetric_and_sorted() -> None:
    low = uuid.UUID("00000000-0000-4000-8000-000000000001")
    high = uuid.UUID("ffffffff-0000-4000-8000-000000000002")
    assert services.dm_channel_name(high, low) == services.dm_channel_name(low, high)
    assert services.dm_channel_name(high, low) == f"DM-{low}-{high}"


def test_dm_channel_get_or_create_creates_once_and_announces_both_members(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        channel, created = services.dm_channel_get_or_create(
            user_id=world.bob, target_id=world.alice, server_id=world.server.id
        )
    assert created
    assert published.events == added(channel.id, world.bob, world.alice)
    assert channel.type == ChannelType.DM
    assert channel.name == services.dm_channel_name(world.alice, world.bob)
    low, high = sorted((str(world.alice), str(world.bob)))
    assert channel.metadata == {"user1": low, "user2": high}

    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again, created_again = services.dm_channel_get_or_create(
            user_id=world.alice, target_id=world.bob, server_id=world.server.id
        )
    assert (again, created_again) == (channel, False)
    assert published.events == []


def test_a_dm_with_oneself_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as raised:
        services.dm_channel_get_or_create(
            user_id=world.bob, target_id=world.bob, server_id=world.server.id
        )
    assert raised.value.code == "DM_WITH_SELF"


@pytest.mark.parametrize(
    "dm_metadata",
    [{"isDm": True}, {"channelType": "dm"}, {"channel_type": "DM"}],
    ids=["isDm", "channelType", "channel_type"],
)
@pytest.mark.parametrize("target_key", ["targetUserId", "recipientId"])
def test_a_dm_created_by_a_post_is_found_by_dm_channel(
    dm_metadata: dict[str, object], target_key: str, world: World
) -> None:
    channel_id = uuid.uuid4()
    channel = post_to(
        channel_id,
        world,
        author_id=world.bob,
        metadata={**dm_metadata, target_key: str(world.alice)},
    )
    assert (channel.id, channel.type) == (channel_id, ChannelType.DM)
    assert channel.name == services.dm_channel_name(world.alice, world.bob)
    assert selectors.channel_participants(channel.id) == [world.bob, world.alice]
    found, created = services.dm_channel_get_or_create(
        user_id=world.alice, target_id=world.bob, server_id=world.server.id
    )
    assert (found, created) == (channel, False)


# --- a post to a channel, which creates it on first use (channel_message_post) ------------------


def post_to(
    channel_id: uuid.UUID,
    world: World,
    *,
    author_id: uuid.UUID,
    metadata: dict[str, object],
    server_id: uuid.UUID | None = None,
    created_by: str = "test",
) -> Channel:
    """Posts to ``channel_id`` and returns the channel the post went to."""
    services.channel_message_post(
        channel_id=channel_id,
        server_id=server_id or world.server.id,
        author_id=author_id,
        content="hello",
        metadata=metadata,
        needs_agent=False,
        created_by=created_by,
    )
    return Channel.objects.get(id=channel_id)


def channel_events(published: Published) -> list[object]:
    return [event for event in published.events if not isinstance(event, NewMessage)]


def test_a_post_to_a_new_id_creates_a_group_for_its_author(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    channel_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        channel = post_to(
            channel_id,
            world,
            author_id=world.bob,
            metadata={"source": "gui"},
            created_by="gui_auto_creation",
        )
    assert channel_events(published) == added(channel_id, world.bob)
    assert channel.name == f"Chat {str(channel_id)[:8]}"
    assert (channel.type, channel.source_type) == (ChannelType.GROUP, "auto_created")
    assert channel.metadata["created_by"] == "gui_auto_creation"
    assert channel.metadata["source"] == "gui"


def test_a_post_to_an_existing_channel_changes_nothing(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        channel = post_to(world.channel.id, world, author_id=world.bob, metadata={"isDm": True})
    assert channel == world.channel
    assert channel_events(published) == []
    assert selectors.channel_participants(world.channel.id) == [world.alice]


def test_a_post_naming_another_server_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as raised:
        post_to(
            world.channel.id, world, author_id=world.bob, metadata={}, server_id=DEFAULT_SERVER_ID
        )
    assert raised.value.code == "SERVER_MISMATCH"


# --- channel_update ------------------------------------------------------------------------------


def test_channel_update_replaces_participants_and_publishes_the_changes(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    carol = uuid.uuid4()
    services.channel_participant_add(channel_id=world.channel.id, entity_id=world.bob)
    with django_capture_on_commit_callbacks(execute=True):
        channel = services.channel_update(
            channel_id=world.channel.id,
            name="renamed",
            metadata={"only": "this"},
            topic="new topic",
            participant_ids=[world.bob, carol],
        )
    keep = [str(world.bob), str(carol)]
    assert published.events == [
        *removed(world.channel.id, world.alice),
        *added(world.channel.id, carol),
        ChannelUpdated(
            channel_id=str(world.channel.id),
            updates={
                "name": "renamed",
                "metadata": {"only": "this"},
                "topic": "new topic",
                "participantCentralUserIds": keep,
            },
        ),
    ]
    assert selectors.channel_participants(world.channel.id) == [world.bob, carol]
    stored = Channel.objects.get(id=world.channel.id)
    assert (stored.name, stored.metadata, stored.topic) == (
        "renamed",
        {"only": "this"},
        "new topic",
    )
    assert channel == stored


def test_channel_update_without_participants_keeps_them(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.channel_update(channel_id=world.channel.id, name="renamed")
    assert published.events == [
        ChannelUpdated(channel_id=str(world.channel.id), updates={"name": "renamed"})
    ]
    assert selectors.channel_participants(world.channel.id) == [world.alice]


def test_channel_update_of_an_unknown_channel_is_not_found(db: None) -> None:
    with pytest.raises(NotFound):
        services.channel_update(channel_id=uuid.uuid4(), name="x")


# --- participants --------------------------------------------------------------------------------


def test_channel_participant_add_publishes_only_a_real_change(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = services.channel_participant_add(channel_id=world.channel.id, entity_id=world.bob)
        second = services.channel_participant_add(channel_id=world.channel.id, entity_id=world.bob)
    assert (first, second) == (True, False)
    assert published.events == added(world.channel.id, world.bob)


def test_channel_participant_remove_publishes_the_removal(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.channel_participant_remove(channel_id=world.channel.id, entity_id=world.alice)
    assert published.events == removed(world.channel.id, world.alice)
    assert not Participant.objects.filter(channel=world.channel).exists()


def test_removing_a_non_participant_is_not_found_and_silent(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotFound) as raised:
        services.channel_participant_remove(channel_id=world.channel.id, entity_id=world.bob)
    assert raised.value.code == "PARTICIPANT_NOT_FOUND"
    assert published.events == []


@pytest.mark.parametrize(
    "call",
    [services.channel_participant_add, services.channel_participant_remove],
    ids=name_of,
)
def test_participants_of_an_unknown_channel_are_not_found(
    call: Callable[..., object], world: World
) -> None:
    with pytest.raises(NotFound) as raised:
        call(channel_id=uuid.uuid4(), entity_id=world.alice)
    assert raised.value.code == "CHANNEL_NOT_FOUND"


# --- clearing and deleting -----------------------------------------------------------------------


def fill(channel_id: uuid.UUID, author_id: uuid.UUID, count: int) -> None:
    for index in range(count):
        factories.make_message(channel_id=channel_id, author_id=author_id, content=f"m{index}")


def test_channel_clear_publishes_channel_cleared_with_the_count(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    fill(world.channel.id, world.alice, 4)
    elsewhere = factories.make_channel(server_id=world.server.id)
    fill(elsewhere.id, world.alice, 2)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.channel_clear(channel_id=world.channel.id)
    assert deleted == 5
    assert published.events == [ChannelCleared(channel_id=str(world.channel.id), message_count=5)]
    assert not Message.objects.filter(channel=world.channel).exists()
    assert Message.objects.filter(channel=elsewhere).count() == 2
    assert selectors.channel_participants(world.channel.id) == [world.alice]


def test_clearing_an_empty_channel_still_announces_it(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    services.message_delete(channel_id=world.channel.id, message_id=world.message.id)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.channel_clear(channel_id=world.channel.id) == 0
    assert published.events == [ChannelCleared(channel_id=str(world.channel.id), message_count=0)]


def statements(world: World, call: Callable[..., object], message_count: int) -> list[str]:
    """The SQL ``call`` runs on ``world.channel`` once it holds ``message_count`` messages."""
    fill(world.channel.id, world.alice, message_count - 1)
    with CaptureQueriesContext(connection) as queries:
        call(channel_id=world.channel.id)
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("message_count", [1, 60])
def test_channel_clear_deletes_every_message_in_one_statement(
    message_count: int, world: World
) -> None:
    sql = statements(world, services.channel_clear, message_count)
    deletes = [statement for statement in sql if statement.upper().startswith("DELETE")]
    assert len(deletes) == 1
    assert "elizabus_message" in deletes[0]
    assert Message.objects.filter(channel=world.channel).count() == 0


@pytest.mark.parametrize("call", [services.channel_clear, services.channel_delete], ids=name_of)
def test_the_work_does_not_grow_with_the_message_count(
    call: Callable[..., object], world: World
) -> None:
    few = len(statements(world, call, 1))
    world_again = factories.make_channel(server_id=world.server.id, participant_ids=[world.alice])
    fill(world_again.id, world.alice, 80)
    with CaptureQueriesContext(connection) as queries:
        call(channel_id=world_again.id)
    assert len(queries.captured_queries) == few


def test_channel_delete_publishes_cleared_then_deleted(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    fill(world.channel.id, world.alice, 2)
    with django_capture_on_commit_callbacks(execute=True):
        services.channel_delete(channel_id=world.channel.id)
    channel_id = str(world.channel.id)
    assert published.events == [
        ChannelCleared(channel_id=channel_id, message_count=3, channel_deleted=True),
        ChannelDeleted(channel_id=channel_id),
    ]
    assert not Channel.objects.filter(id=world.channel.id).exists()
    assert not Message.objects.filter(channel_id=world.channel.id).exists()
    assert not Participant.objects.filter(channel_id=world.channel.id).exists()
    assert Entity.objects.filter(id=world.alice).exists()


@pytest.mark.parametrize("call", [services.channel_clear, services.channel_delete], ids=name_of)
def test_clearing_or_deleting_an_unknown_channel_is_not_found(
    call: Callable[..., object], db: None
) -> None:
    with pytest.raises(NotFound):
        call(channel_id=uuid.uuid4())
