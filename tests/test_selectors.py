"""Selectors: history pages, what a reconnecting client missed, who may join a channel, and the
small lookups the API and agents use."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import pytest

from elizabus import selectors, services
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Message
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db

EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def at(minute: int) -> dt.datetime:
    return EPOCH + dt.timedelta(minutes=minute)


def post(world: World, minute: int, content: str = "") -> Message:
    """A message of Alice's stamped ``minute`` minutes after the epoch."""
    message = factories.make_message(
        channel_id=world.channel.id, author_id=world.alice, content=content or f"at {minute}"
    )
    # Arranging time: the model stamps rows with the clock, and these tests need a known order.
    Message.objects.filter(id=message.id).update(created_at=at(minute))
    message.refresh_from_db()
    return message


@pytest.fixture
def quiet(world: World) -> World:
    """``world`` with its message moved to another channel, leaving ``world.channel`` empty."""
    elsewhere = factories.make_channel(server_id=world.server.id)
    Message.objects.filter(id=world.message.id).update(channel=elsewhere)
    return world


@pytest.fixture
def history(quiet: World) -> list[Message]:
    """Five messages in ``world.channel``, a minute apart, oldest first."""
    return [post(quiet, minute) for minute in range(5)]


def ids(messages: Iterable[Message]) -> list[uuid.UUID]:
    return [message.id for message in messages]


# --- message_list --------------------------------------------------------------------------------


def test_message_list_is_newest_first(world: World, history: list[Message]) -> None:
    assert ids(selectors.message_list(channel_id=world.channel.id)) == ids(reversed(history))


def test_message_list_keeps_the_newest_within_the_limit(
    world: World, history: list[Message]
) -> None:
    page = selectors.message_list(channel_id=world.channel.id, limit=2)
    assert ids(page) == [history[4].id, history[3].id]


def test_message_list_before_is_exclusive(world: World, history: list[Message]) -> None:
    page = selectors.message_list(channel_id=world.channel.id, before=history[3].created_at)
    assert ids(page) == [history[2].id, history[1].id, history[0].id]


def test_message_list_pages_through_the_history(world: World, history: list[Message]) -> None:
    seen: list[uuid.UUID] = []
    before = None
    while page := list(selectors.message_list(channel_id=world.channel.id, limit=2, before=before)):
        seen += ids(page)
        before = page[-1].created_at
    assert seen == ids(reversed(history))


def test_message_list_breaks_timestamp_ties_by_id(quiet: World) -> None:
    twins = [post(quiet, 7), post(quiet, 7)]
    page = selectors.message_list(channel_id=quiet.channel.id)
    assert ids(page) == sorted(ids(twins), reverse=True)


# --- channel_last_seq, message_seq, messages_after ----------------------------------------------


def test_messages_after_a_seq_are_oldest_first_within_the_limit(
    world: World, history: list[Message]
) -> None:
    # The world's own message was the channel's first (moved away since): the history is 2…6.
    after = selectors.messages_after(channel_id=world.channel.id, after_seq=3, limit=10)
    assert ids(after) == ids(history[2:])
    after = selectors.messages_after(channel_id=world.channel.id, after_seq=0, limit=2)
    assert ids(after) == ids(history[:2])


def test_messages_after_a_seq_up_to_another_newest_first(
    world: World, history: list[Message]
) -> None:
    found = selectors.messages_after(
        channel_id=world.channel.id, after_seq=2, upto_seq=5, limit=2, newest=True
    )
    assert ids(found) == [history[3].id, history[2].id]


def test_a_messages_seq_and_the_channels_last(world: World, history: list[Message]) -> None:
    assert selectors.message_seq(channel_id=world.channel.id, message_id=history[3].id) == 5
    assert selectors.channel_last_seq(world.channel.id) == 6
    assert selectors.channel_last_seq(uuid.uuid4()) is None


@pytest.mark.parametrize("which", ["unknown", "of another channel"])
def test_an_id_the_channel_does_not_hold_has_no_seq(
    which: str, world: World, history: list[Message]
) -> None:
    other = factories.make_channel(server_id=world.server.id)
    message_id = uuid.uuid4() if which == "unknown" else history[0].id
    assert selectors.message_seq(channel_id=other.id, message_id=message_id) is None


# --- who may join --------------------------------------------------------------------------------


def test_anyone_may_join_the_central_channel(db: None) -> None:
    assert selectors.channel_may_join(channel_id=CENTRAL_CHANNEL_ID, entity_id=uuid.uuid4())


def test_a_participant_may_join_and_a_stranger_may_not(world: World) -> None:
    assert selectors.channel_may_join(channel_id=world.channel.id, entity_id=world.alice)
    assert not selectors.channel_may_join(channel_id=world.channel.id, entity_id=world.bob)
    services.channel_participant_add(channel_id=world.channel.id, entity_id=world.bob)
    assert selectors.channel_may_join(channel_id=world.channel.id, entity_id=world.bob)


def test_nobody_may_join_an_unknown_channel(world: World) -> None:
    assert not selectors.channel_may_join(channel_id=uuid.uuid4(), entity_id=world.alice)


def test_a_stranger_may_send_only_where_it_may_join_or_to_a_channel_yet_to_be_made(
    world: World,
) -> None:
    assert selectors.channel_may_send(channel_id=world.channel.id, entity_id=world.alice)
    assert not selectors.channel_may_send(channel_id=world.channel.id, entity_id=world.bob)
    assert selectors.channel_may_send(channel_id=CENTRAL_CHANNEL_ID, entity_id=world.bob)
    assert selectors.channel_may_send(channel_id=uuid.uuid4(), entity_id=world.bob)


# --- lookups -------------------------------------------------------------------------------------


def test_channel_participants_are_in_joining_order(world: World) -> None:
    services.channel_participant_add(channel_id=world.channel.id, entity_id=world.bob)
    assert selectors.channel_participants(world.channel.id) == [world.alice, world.bob]


def test_subscriptions_read_both_ways(world: World) -> None:
    agent_id = world.agent.entity_id
    other = factories.make_agent(name="Other", server_ids=[world.server.id]).entity_id
    assert selectors.server_agent_ids(world.server.id) == [agent_id, other]
    assert selectors.agent_server_ids(agent_id) == [DEFAULT_SERVER_ID, world.server.id]


def test_entity_names_fall_back_to_the_id(world: World) -> None:
    bare = uuid.uuid4()
    services.entity_ensure(entity_id=bare)
    assert selectors.entity_names([world.alice, bare, uuid.uuid4()]) == {
        world.alice: "Alice",
        bare: f"User-{str(bare)[:8]}",
    }


def test_channel_answering_agent_prefers_the_named_agent_then_the_first_seated(
    world: World,
) -> None:
    channel_id = world.channel.id
    assert selectors.channel_answering_agent(channel_id=channel_id, author_id=world.alice) is None
    second = factories.make_agent(name="Second")
    for agent_id in (world.agent.entity_id, second.entity_id):
        services.channel_participant_add(channel_id=channel_id, entity_id=agent_id)
    assert (
        selectors.channel_answering_agent(channel_id=channel_id, author_id=world.alice)
        == world.agent.entity_id
    )
    assert (
        selectors.channel_answering_agent(channel_id=channel_id, author_id=world.agent.entity_id)
        == second.entity_id
    )
    assert (
        selectors.channel_answering_agent(
            channel_id=channel_id, author_id=world.alice, preferred=second.entity_id
        )
        == second.entity_id
    )
