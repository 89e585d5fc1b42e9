"""The one door: every publishing service sends its events only after the transaction commits.

One table names each service that publishes and the event types it emits; the same table drives
"it publishes once committed", "a rolled-back transaction publishes nothing and leaves no row",
and "every event of the catalogue has a service that publishes it". The exact contents of each
event are asserted beside each service, in ``tests/services``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, transaction

from elizabus import services
from elizabus.bus.events import (
    EVENT_TYPES,
    AgentUpdated,
    BusEvent,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageComplete,
    MessageDeleted,
    MessageError,
    MessageStreamChunk,
    MessageUpdated,
    NewMessage,
    ParticipantUpdate,
    ServerAgentUpdate,
)
from elizabus.bus.models import OutboxEvent
from elizabus.bus.publish import publish, publish_ephemeral
from elizabus.models import Message
from tests import factories
from tests.conftest import Published, World, db_state

pytestmark = pytest.mark.django_db


class Boom(Exception):
    """Raised to roll a transaction back."""


@dataclass(frozen=True)
class Scenario:
    service: str
    run: Callable[[World], Any]
    emits: tuple[type[BusEvent], ...]

    def __str__(self) -> str:
        return self.service


# Services (and helpers) that publish nothing.
QUIET = {
    "server_create",
    "entity_ensure",
    "dm_channel_name",
    "message_event",
    "memory_record",
    "memory_forget_message",
    "memory_forget_channel",
    # The memory API's edits: memories are an agent's private record, announced to no one.
    "memory_update",
    "memory_delete",
    "memory_clear",
    "memory_forget_server",
    "agent_channel_title",
    "media_store",
    "media_path",
    "agent_media_store",
    "agent_media_path",
    "AgentReply",
    "session_require_active",
    "session_renew",
    "session_timeout_update",
    "session_heartbeat",
    "session_delete",
    "sessions_prune",
    "job_complete",
    "job_fail",
    "jobs_time_out_overdue",
    "jobs_prune",
    # Log-ins and their tokens: credentials, announced to no one.
    "IssuedTokens",
    "account_register",
    "account_login",
    "account_refresh",
    "account_access_refresh",
    "account_logout",
    "account_password_change",
}

SCENARIOS = [
    Scenario(
        "message_create",
        lambda w: services.message_create(channel_id=w.channel.id, author_id=w.bob, content="hi"),
        (NewMessage,),
    ),
    Scenario(
        "channel_message_post",
        lambda w: services.channel_message_post(
            channel_id=uuid.uuid4(),
            server_id=w.server.id,
            author_id=w.bob,
            content="first post creates the channel",
            metadata={},
            needs_agent=False,
        ),
        (ParticipantUpdate, NewMessage),
    ),
    Scenario(
        "message_update",
        lambda w: services.message_update(message_id=w.message.id, content="edited"),
        (MessageUpdated,),
    ),
    Scenario(
        "message_delete",
        lambda w: services.message_delete(channel_id=w.channel.id, message_id=w.message.id),
        (MessageDeleted,),
    ),
    Scenario(
        "message_complete_announce",
        lambda w: services.message_complete_announce(
            channel_id=w.channel.id, server_id=w.server.id, agent_id=w.agent.entity_id
        ),
        (MessageComplete,),
    ),
    Scenario(
        "channel_create",
        lambda w: services.channel_create(
            server_id=w.server.id, name="new", participant_ids=[w.alice, w.bob]
        ),
        (ParticipantUpdate, ParticipantUpdate),
    ),
    Scenario(
        "dm_channel_get_or_create",
        lambda w: services.dm_channel_get_or_create(
            user_id=w.alice, target_id=w.bob, server_id=w.server.id
        ),
        (ParticipantUpdate, ParticipantUpdate),
    ),
    Scenario(
        "channel_update",
        lambda w: services.channel_update(
            channel_id=w.channel.id, name="renamed", participant_ids=[w.bob]
        ),
        (ParticipantUpdate, ParticipantUpdate, ChannelUpdated),
    ),
    Scenario(
        "channel_participant_add",
        lambda w: services.channel_participant_add(channel_id=w.channel.id, entity_id=w.bob),
        (ParticipantUpdate,),
    ),
    Scenario(
        "channel_participant_remove",
        lambda w: services.channel_participant_remove(channel_id=w.channel.id, entity_id=w.alice),
        (ParticipantUpdate,),
    ),
    Scenario(
        "channel_clear",
        lambda w: services.channel_clear(channel_id=w.channel.id),
        (ChannelCleared,),
    ),
    Scenario(
        "channel_delete",
        lambda w: services.channel_delete(channel_id=w.channel.id),
        (ChannelCleared, ChannelDeleted),
    ),
    Scenario(
        "server_agent_add",
        lambda w: services.server_agent_add(
            server_id=factories.make_server().id, agent_id=w.agent.entity_id
        ),
        (ServerAgentUpdate,),
    ),
    Scenario(
        "server_agent_remove",
        lambda w: services.server_agent_remove(server_id=w.server.id, agent_id=w.agent.entity_id),
        (ServerAgentUpdate,),
    ),
    Scenario(
        "agent_register",
        lambda w: services.agent_register(name="Newcomer"),
        (ServerAgentUpdate, ParticipantUpdate, AgentUpdated),
    ),
    Scenario(
        "agent_update",
        lambda w: services.agent_update(agent_id=w.agent.entity_id, name="Renamed"),
        (AgentUpdated,),
    ),
    Scenario(
        "agent_set_enabled",
        lambda w: services.agent_set_enabled(agent_id=w.agent.entity_id, enabled=False),
        (AgentUpdated,),
    ),
    Scenario(
        "agent_delete",
        lambda w: services.agent_delete(agent_id=w.agent.entity_id),
        (ParticipantUpdate, AgentUpdated),  # it leaves the central channel
    ),
    Scenario(
        "agent_message_settle",
        lambda w: services.agent_message_settle(
            agent_id=w.agent.entity_id,
            agent_name="Eliza",
            message=services.message_event(w.message, server_id=w.server.id),
            reply=services.AgentReply(content="In what way?", raw_message={"text": "In what way?"}),
            error="",
        ),
        (NewMessage, MessageComplete),
    ),
    Scenario(
        "agent_reply_submit",
        lambda w: services.agent_reply_submit(
            agent=w.agent,
            original=w.message,
            server_id=w.server.id,
            message_id=uuid.uuid4(),
            content="In what way?",
            raw_message={"text": "In what way?"},
            metadata={},
        ),
        (NewMessage,),  # a hosted agent announces its completion itself (POST /complete)
    ),
    Scenario(
        "session_create",
        lambda w: services.session_create(agent_id=w.agent.entity_id, user_id=w.bob),
        (ParticipantUpdate, ParticipantUpdate),  # its channel: the agent, then the user
    ),
    Scenario(
        "session_message_send",
        lambda w: services.session_message_send(
            session_id=services.session_create(agent_id=w.agent.entity_id, user_id=w.bob).id,
            content="hello",
        ),
        (ParticipantUpdate, ParticipantUpdate, NewMessage),  # the session's own, then its send
    ),
    Scenario(
        "job_create",
        lambda w: services.job_create(
            agent_id=w.agent.entity_id, user_id=w.bob, content="What is a bus?"
        ),
        (ParticipantUpdate, ParticipantUpdate, NewMessage),
    ),
    Scenario(
        "message_error_report",
        lambda w: services.message_error_report(
            message_id=str(w.message.id),
            channel_id=str(w.channel.id),
            agent_id=w.agent.entity_id,
            error="responder timed out",
        ),
        (MessageError,),
    ),
]


def test_every_event_of_the_catalogue_has_a_publishing_service() -> None:
    emitted = {event_type for scenario in SCENARIOS for event_type in scenario.emits}
    assert emitted == set(EVENT_TYPES.values())


def test_every_publishing_service_is_in_the_table() -> None:
    in_table = [scenario.service for scenario in SCENARIOS]
    assert len(in_table) == len(set(in_table))
    assert set(services.__all__) - QUIET == set(in_table), "add the new service to SCENARIOS"
    assert set(services.__all__) >= QUIET


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_a_committed_service_publishes_its_events(
    scenario: Scenario, world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        scenario.run(world)
        assert published.events == [], "delivered before the commit"
    assert [type(event) for event in published.events] == list(scenario.emits)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_a_rolled_back_service_publishes_nothing_and_leaves_no_row(
    scenario: Scenario, world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    before = db_state()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        scenario.run(world)
        raise Boom
    assert callbacks == []
    assert published.events == []
    assert db_state() == before


def test_an_event_waits_for_the_outermost_block(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            with transaction.atomic():
                first = services.message_create(
                    channel_id=world.channel.id, author_id=world.bob, content="one"
                )
            assert published.events == []
            second = services.message_create(
                channel_id=world.channel.id, author_id=world.bob, content="two"
            )
            assert published.events == []
        assert published.events == []
    assert [event.id for event in published.events] == [str(first.id), str(second.id)]


def test_a_rolled_back_savepoint_drops_only_its_own_events(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content="kept"
        )
        with pytest.raises(Boom), transaction.atomic():
            services.message_create(
                channel_id=world.channel.id, author_id=world.bob, content="dropped"
            )
            raise Boom
    assert [event.id for event in published.events] == [str(kept.id)]
    assert not Message.objects.filter(content="dropped").exists()


def test_publish_registers_a_robust_on_commit_callback(published: Published) -> None:
    event = ChannelDeleted(channel_id=str(uuid.uuid4()))
    with transaction.atomic():
        publish(event)
        *_, (_, callback, robust) = connection.run_on_commit
        assert robust, "a failing transport must not break the writer"
    callback()
    assert published.events == [event]


# --- publish_ephemeral: no row, no transaction, this process's EACH receivers at once ---------


def test_an_ephemeral_event_reaches_the_receivers_at_once_and_leaves_no_row(
    db: None, published: Published
) -> None:
    chunk = MessageStreamChunk(channel_id="c", message_id="m", agent_id="a", chunk="Hel", index=0)
    before = OutboxEvent.objects.count()

    with transaction.atomic():
        publish_ephemeral(chunk)
        assert published.events == [chunk], "not held for the commit"

    assert OutboxEvent.objects.count() == before


def test_a_stored_event_cannot_go_out_ephemeral(world: World) -> None:
    with pytest.raises(ValueError, match="is stored"):
        publish_ephemeral(MessageDeleted(message_id=str(world.message.id), channel_id="c"))
