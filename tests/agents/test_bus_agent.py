"""BusAgent on a real bus with real worker threads: the reference's filters, memories kept
once, replies back on the bus, caches that follow bus events, the error boundary, the hop limit,
and clean start/stop.

Negative outcomes ("no reply") are checked after :meth:`Stage.settle`, a barrier through the
agent's own worker queue, never after a sleep.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from elizabus import selectors, services
from elizabus.agents.bus_agent import CLEARED, DELETED, STOPPED, AgentProfile, BusAgent
from elizabus.agents.responders.echo import EchoResponder
from elizabus.bus import dispatch
from elizabus.bus.dispatch import dispatch_local
from elizabus.bus.events import (
    EVENT_TYPES,
    MessageComplete,
    MessageError,
    MessageStreamChunk,
    MessageStreamError,
    NewMessage,
)
from elizabus.conf import app_settings
from elizabus.ids import reply_id
from elizabus.models import DEFAULT_SERVER_ID, Memory, Message
from tests import factories
from tests.agents.conftest import AGENT_DB, Stage
from tests.agents.helpers import FAILING, SILENT, wait_until
from tests.fake_model import FakeModel, Script

pytestmark = AGENT_DB


# --- the filters (docs/agents.md, "Filters") ---------------------------------------------------
@pytest.mark.parametrize("case", ["not a participant", "server not subscribed", "own message"])
def test_a_filtered_message_leaves_no_trace(stage: Stage, case: str) -> None:
    agent = stage.agent()
    home = stage.channel(agent)
    channel, author = {
        "not a participant": lambda: (stage.channel(), None),
        "server not subscribed": lambda: (
            stage.channel(agent, server_id=factories.make_server().id),
            None,
        ),
        "own message": lambda: (home, agent),
    }[case]()
    message_id = stage.say(channel, author=author)
    stage.settle(agent, home)
    assert stage.memories(agent, message_id) == 0
    assert stage.replies(message_id) == []
    assert stage.completions(message_id) == []


@pytest.mark.parametrize(
    "change",
    [
        {"content": ""},
        {"content": " \n\t"},
        {"content": None},
        {"id": "not-a-uuid"},
        {"channel_id": "123"},
        {"message_server_id": ""},
        {"author_id": None},
        {"created_at": None},
        {"created_at": "1700000000000"},
        {"metadata": None},
    ],
    ids=lambda change: "-".join(f"{key}={value!r}" for key, value in change.items()),
)
def test_a_malformed_new_message_is_dropped(stage: Stage, change: dict[str, Any]) -> None:
    agent = stage.agent()
    home = stage.channel(agent)
    well_formed = NewMessage(
        id=str(uuid.uuid4()),
        channel_id=str(home),
        message_server_id=str(DEFAULT_SERVER_ID),
        author_id=str(stage.human),
        content="hello",
        created_at=int(time.time() * 1000),
    )
    malformed = dataclasses.replace(well_formed, **change)
    dispatch_local(malformed)
    stage.settle(agent, home)
    assert stage.replies(str(malformed.id)) == []
    assert stage.completions(str(malformed.id)) == []
    remembered = set(Memory.objects.filter(agent_id=agent).values_list("message_id", flat=True))
    assert remembered <= set(Message.objects.values_list("id", flat=True))
    assert stage.errors() == []


# --- answering --------------------------------------------------------------------------------
def test_a_participant_replies_on_the_bus_in_the_database_and_in_the_channel(
    stage: Stage, client: Client
) -> None:
    agent = stage.agent(name="Echo")
    home = stage.channel(agent)
    message_id = stage.say(home, "Men are all alike.")

    reply = stage.wait_reply(message_id, agent)
    stage.wait_done(message_id, agent)

    assert reply.author_id == str(agent)
    assert reply.channel_id == str(home)
    assert reply.message_server_id == str(DEFAULT_SERVER_ID)
    assert reply.in_reply_to_message_id == message_id
    assert reply.source_type == "agent_response"
    assert reply.content == "echo: Men are all alike."
    assert reply.author_display_name == "Echo"
    assert reply.raw_message == {
        "text": "echo: Men are all alike.",
        "thought": "",
        "actions": ["REPLY"],
    }
    assert reply.metadata["agent_id"] == str(agent)
    assert reply.metadata["agentName"] == "Echo"
    stored = Message.objects.get(id=reply.id)
    assert (stored.author_id, stored.in_reply_to_id) == (agent, uuid.UUID(message_id))
    listed = client.get(f"/api/messaging/channels/{home}/messages").json()["data"]["messages"]
    assert [item["id"] for item in listed] == [reply.id, message_id]
    assert listed[0]["inReplyToRootMessageId"] == message_id
    # message_complete comes after the reply, and once.
    events = stage.published.events
    (complete,) = stage.completions(message_id, agent)
    assert events.index(reply) < events.index(complete)
    assert complete.channel_id == str(home)
    # The agent remembers both the message and its own reply.
    assert stage.memories(agent, message_id) == 1
    assert stage.memories(agent, reply.id) == 1


def test_a_responder_that_returns_none_sends_no_reply_but_completes(stage: Stage) -> None:
    agent = stage.agent(responder=SILENT)
    message_id = stage.say(stage.channel(agent))
    stage.wait_done(message_id, agent)
    assert stage.replies(message_id) == []
    assert stage.memories(agent, message_id) == 1


def test_a_redelivered_message_is_remembered_and_answered_once(stage: Stage) -> None:
    agent = stage.agent()
    home = stage.channel(agent)
    message_id = stage.say(home)
    (event,) = [event for event in stage.messages() if event.id == message_id]
    dispatch_local(event)  # at-least-once delivery: the same event again, twice
    dispatch_local(event)
    stage.wait_reply(message_id, agent)
    stage.settle(agent, home)
    assert stage.memories(agent, message_id) == 1
    assert len(stage.replies(message_id)) == 1
    assert len(stage.completions(message_id)) == 1


# --- forgetting --------------------------------------------------------------------------------
def _remembered(agents: list[uuid.UUID], message_ids: list[str]) -> set[tuple[uuid.UUID, str]]:
    return {
        (agent_id, str(message_id))
        for agent_id, message_id in Memory.objects.filter(
            agent_id__in=agents, message_id__in=message_ids
        ).values_list("agent_id", "message_id")
    }


@pytest.fixture
def two_rooms(stage: Stage) -> tuple[list[uuid.UUID], list[uuid.UUID], list[str]]:
    """Two silent agents in two channels, each channel holding two remembered messages."""
    agents = [stage.agent("Ann", responder=SILENT), stage.agent("Bea", responder=SILENT)]
    channels = [stage.channel(*agents), stage.channel(*agents)]
    messages = [stage.say(channel, text) for channel in channels for text in ("one", "two")]
    for message_id in messages:
        for agent_id in agents:
            stage.wait_done(message_id, agent_id)
    assert len(_remembered(agents, messages)) == 8
    return agents, channels, messages


def test_message_deleted_forgets_that_message_only(stage: Stage, two_rooms: Any) -> None:
    agents, channels, messages = two_rooms
    services.message_delete(channel_id=channels[0], message_id=uuid.UUID(messages[0]))
    expected = {(agent_id, message_id) for agent_id in agents for message_id in messages[1:]}
    wait_until(lambda: _remembered(agents, messages) == expected, what="memories forgotten")
    for agent_id in agents:
        stage.settle(agent_id, channels[1])
    assert _remembered(agents, messages) == expected


@pytest.mark.parametrize("how", ["channel_clear", "channel_delete"])
def test_channel_cleared_forgets_that_channel_only(stage: Stage, two_rooms: Any, how: str) -> None:
    agents, channels, messages = two_rooms
    getattr(services, how)(channel_id=channels[0])
    expected = {(agent_id, message_id) for agent_id in agents for message_id in messages[2:]}
    wait_until(lambda: _remembered(agents, messages) == expected, what="memories forgotten")
    for agent_id in agents:
        stage.settle(agent_id, channels[1])
    assert _remembered(agents, messages) == expected


# --- caches that follow the bus ----------------------------------------------------------------
def _answers(stage: Stage, agent: uuid.UUID, channel: uuid.UUID, barrier: uuid.UUID) -> bool:
    """Whether ``agent`` answers a message in ``channel``; ``barrier`` is a channel where it
    does, to know when it is done."""
    message_id = stage.say(channel)
    stage.settle(agent, barrier)
    return bool(stage.replies(message_id, agent))


def test_server_agent_update_takes_effect_without_restart(stage: Stage) -> None:
    agent = stage.agent()
    other_server = factories.make_server().id
    home = stage.channel(agent)
    away = stage.channel(agent, server_id=other_server)
    assert not _answers(stage, agent, away, barrier=home)

    services.server_agent_add(server_id=other_server, agent_id=agent)
    assert _answers(stage, agent, away, barrier=home)

    services.server_agent_remove(server_id=DEFAULT_SERVER_ID, agent_id=agent)
    assert not _answers(stage, agent, home, barrier=away)

    services.server_agent_add(server_id=DEFAULT_SERVER_ID, agent_id=agent)
    assert _answers(stage, agent, home, barrier=away)


def _seat_with_participant_services(channel: uuid.UUID, agent: uuid.UUID, seated: bool) -> None:
    if seated:
        services.channel_participant_add(channel_id=channel, entity_id=agent)
    else:
        services.channel_participant_remove(channel_id=channel, entity_id=agent)


def _seat_with_channel_update(channel: uuid.UUID, agent: uuid.UUID, seated: bool) -> None:
    others = [entity for entity in selectors.channel_participants(channel) if entity != agent]
    services.channel_update(channel_id=channel, participant_ids=[*others, *[agent][:seated]])


@pytest.mark.parametrize(
    "seat",
    [_seat_with_participant_services, _seat_with_channel_update],
    ids=["channel_participant_add/remove", "channel_update"],
)
def test_participation_changes_take_effect_without_restart(stage: Stage, seat: Any) -> None:
    agent = stage.agent()
    home, room = stage.channel(agent), stage.channel()
    assert not _answers(stage, agent, room, barrier=home)  # and "not seated" is now cached

    seat(room, agent, True)
    assert _answers(stage, agent, room, barrier=home)

    seat(room, agent, False)
    assert not _answers(stage, agent, room, barrier=home)

    seat(room, agent, True)
    assert _answers(stage, agent, room, barrier=home)


# --- the error boundary -----------------------------------------------------------------------
def test_a_failing_responder_reports_message_error_and_goes_on(stage: Stage) -> None:
    agent = stage.agent(responder=FAILING)
    home = stage.channel(agent)
    failed = stage.say(home, "boom")
    stage.wait_done(failed, agent)

    (error,) = stage.errors()
    assert isinstance(error, MessageError)
    assert (error.agent_id, error.message_id, error.channel_id) == (str(agent), failed, str(home))
    assert "cannot answer 'boom'" in error.error
    assert stage.replies(failed) == []

    after = stage.say(home, "still there?")
    assert stage.wait_reply(after, agent).content == "echo: still there?"


# --- the hop limit -----------------------------------------------------------------------------
@pytest.mark.parametrize("hop_limit", [None, 1, 2])
def test_the_hop_limit_ends_agent_to_agent_talk(
    stage: Stage, settings: Any, hop_limit: int | None
) -> None:
    if hop_limit is not None:
        settings.ELIZABUS = {**settings.ELIZABUS, "AGENT_HOP_LIMIT": hop_limit}
    limit = app_settings.AGENT_HOP_LIMIT
    first, second = stage.agent("First"), stage.agent("Second")
    room = stage.channel(first, second)
    start = stage.say(room, "hi both")

    # Both answer the person (hop 1); after that each agent message at hop h < limit is
    # answered by the other agent only, so every hop level 1..limit holds two messages.
    expected_replies = 2 * limit
    # Each agent completes the person's message and every message of the other agent.
    expected_completions = 2 + expected_replies

    def in_room() -> list[NewMessage]:
        return [event for event in stage.messages() if event.channel_id == str(room)]

    def completed() -> int:
        ids = {event.id for event in in_room()}
        return sum(event.message_id in ids for event in stage.published.of(MessageComplete))

    wait_until(lambda: completed() == expected_completions, what="the talk to end")
    agent_messages = [event for event in in_room() if event.id != start]
    assert len(agent_messages) == expected_replies
    assert max(event.metadata["agentHops"] for event in agent_messages) == limit
    assert stage.errors() == []
    if limit == 1:
        assert {event.in_reply_to_message_id for event in agent_messages} == {start}


def test_an_agent_never_answers_itself(stage: Stage) -> None:
    agent = stage.agent()
    home = stage.channel(agent)
    message_id = stage.say(home)
    reply = stage.wait_reply(message_id, agent)
    stage.settle(agent, home)
    assert stage.replies(reply.id) == []
    assert stage.completions(reply.id) == []


# --- lifecycle --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_start_stop_cycles_leave_no_receiver_or_thread_behind() -> None:
    service = BusAgent(
        AgentProfile(agent_id=uuid.uuid4(), name="Cycler", system_prompt=""), EchoResponder()
    )
    receivers = {name: dispatch.receiver_count(event) for name, event in EVENT_TYPES.items()}
    threads = threading.active_count()
    for _ in range(1000):
        service.start()
        service.start()  # idempotent
        assert service.running
        service.stop()
        service.stop()
    assert not service.running
    assert {name: dispatch.receiver_count(event) for name, event in EVENT_TYPES.items()} == (
        receivers
    )
    assert threading.active_count() == threads


def test_a_seat_change_during_a_participation_read_is_not_lost(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker reads "not seated" from the database; before it caches that, the agent is
    seated and the bus says so. The stale read must not win over the event."""
    agent = stage.agent()
    home, room = stage.channel(agent), stage.channel()
    read, seated = threading.Event(), threading.Event()
    real_read = selectors.channel_is_participant

    def slow_read(**kwargs: Any) -> bool:
        answer = real_read(**kwargs)
        if kwargs["channel_id"] == room and not seated.is_set():
            read.set()
            seated.wait(5)
        return answer

    monkeypatch.setattr("elizabus.agents.bus_agent.selectors.channel_is_participant", slow_read)
    before = stage.say(room)
    assert read.wait(5)
    services.channel_participant_add(channel_id=room, entity_id=agent)
    seated.set()
    stage.settle(agent, home)
    assert stage.replies(before) == []  # not seated when it was read: dropped, as it may be
    assert _answers(stage, agent, room, barrier=home)


# --- streamed replies (docs/agents.md, "Streamed replies") -----------------------------------
OPENAI = "elizabus.agents.responders.openai.OpenAIChatResponder"


@pytest.fixture
def fake_model() -> Any:
    with FakeModel() as model:
        yield model


def chunks_of(stage: Stage, reply: str) -> list[MessageStreamChunk]:
    return [event for event in stage.published.of(MessageStreamChunk) if event.message_id == reply]


def stream_errors(stage: Stage) -> list[MessageStreamError]:
    return stage.published.of(MessageStreamError)


def test_a_streamed_reply_goes_on_the_bus_piece_by_piece_under_its_own_id(
    stage: Stage, fake_model: FakeModel
) -> None:
    fake_model.script = Script(pieces=["Hel", "lo ", "Hannah", "."], gap=0.02, pause_after=2)
    agent = stage.agent("Ada", OPENAI, {"base_url": fake_model.base_url})
    channel = stage.channel(agent)
    message_id = stage.say(channel, "hi")
    expected_id = str(reply_id(agent, message_id))

    # Two pieces are on the bus while the model is still writing; nothing is stored yet.
    wait_until(lambda: len(chunks_of(stage, expected_id)) == 2, what="the first two chunks")
    assert stage.replies(message_id) == []
    assert not Message.objects.filter(id=expected_id).exists()
    fake_model.resume()
    reply = stage.wait_reply(message_id, agent)

    chunks = chunks_of(stage, expected_id)
    assert [(chunk.index, chunk.chunk) for chunk in chunks] == list(
        enumerate(["Hel", "lo ", "Hannah", "."])
    )
    assert {(chunk.channel_id, chunk.agent_id) for chunk in chunks} == {(str(channel), str(agent))}
    # Each names the message it answers, which the sse exchanges wait on.
    assert {chunk.in_reply_to_message_id for chunk in chunks} == {message_id}
    assert reply.id == expected_id
    assert reply.content == "Hello Hannah."
    # The stored reply ends the stream: every chunk was sent before it.
    order = stage.published.events
    assert max(order.index(chunk) for chunk in chunks) < order.index(reply)
    assert stream_errors(stage) == []


def test_eliza_and_echo_stream_their_reply_as_one_chunk(stage: Stage) -> None:
    agent = stage.agent()  # echo
    channel = stage.channel(agent)
    message_id = stage.say(channel, "ping")
    reply = stage.wait_reply(message_id, agent)
    [chunk] = chunks_of(stage, reply.id)
    assert (chunk.index, chunk.chunk, chunk.message_id) == (0, "echo: ping", reply.id)


def test_a_model_failing_mid_stream_ends_the_stream_with_its_partial_text(
    stage: Stage, fake_model: FakeModel
) -> None:
    fake_model.script = Script(pieces=["one ", "two ", "three"], pause_after=2)
    options = {"base_url": fake_model.base_url, "chunk_timeout": 0.3}
    agent = stage.agent("Ada", OPENAI, options)
    channel = stage.channel(agent)
    message_id = stage.say(channel, "count")
    stage.wait_done(message_id, agent)

    [error] = stream_errors(stage)
    assert error.message_id == str(reply_id(agent, message_id))
    assert error.partial_text == "one two "
    assert "stopped answering for 0.3s" in error.error
    assert [event.message_id for event in stage.errors()] == [message_id]
    assert stage.replies(message_id) == []


@pytest.mark.parametrize("how", ["delete the message", "clear the channel", "stop the agent"])
def test_a_stream_in_progress_is_cancelled(stage: Stage, fake_model: FakeModel, how: str) -> None:
    # The model would never finish (it waits for resume) and the chunk timeout is long: only
    # the cancellation can end this stream within the test's bounds.
    fake_model.script = Script(pieces=["a ", "b ", "c"], pause_after=2)
    options = {"base_url": fake_model.base_url, "chunk_timeout": 30}
    agent = stage.agent("Ada", OPENAI, options)
    channel = stage.channel(agent)
    message_id = stage.say(channel, "talk")
    expected_id = str(reply_id(agent, message_id))
    wait_until(lambda: len(chunks_of(stage, expected_id)) == 2, what="two chunks")
    started = time.monotonic()

    if how == "delete the message":
        services.message_delete(channel_id=channel, message_id=uuid.UUID(message_id))
    elif how == "clear the channel":
        services.channel_clear(channel_id=channel)
    else:
        services.agent_set_enabled(agent_id=agent, enabled=False)

    error = wait_until(lambda: next(iter(stream_errors(stage)), None), what="the stream's end")
    assert time.monotonic() - started < 3
    assert (error.message_id, error.partial_text) == (expected_id, "a b ")
    # Nothing more comes about a deleted message or a cleared channel; a stopped agent's
    # message is answered again.
    assert (error.in_reply_to_message_id, error.final) == (message_id, how != "stop the agent")
    assert (
        error.error
        == {
            "delete the message": DELETED,
            "clear the channel": CLEARED,
            "stop the agent": STOPPED,
        }[how]
    )
    fake_model.resume()
    if how != "stop the agent":
        stage.settle(agent, channel)
    else:
        wait_until(lambda: stage.runtime.bus_agent(agent) is None, what="the agent to stop")
    assert len(chunks_of(stage, expected_id)) == 2
    assert stage.replies(message_id) == []
    assert not Message.objects.filter(id=expected_id).exists()
