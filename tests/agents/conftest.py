"""Fixtures for tests that run real bus agents in their worker threads.

``stage`` is a fresh :class:`AgentRuntime`, activated and following ``agent_update`` like the
server's, with a recorder of every bus event and a person to talk to the agents. Workers use their
own database connections, so these tests use a transactional database (committed rows); the
default server and central channel that the flush after each transactional test removes come
back through ``_default_rows`` (``tests/conftest.py``), as for every test.

``published`` is the bus recorder of ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from elizabus import services
from elizabus.agents.runtime import AgentRuntime
from elizabus.bus import dispatch
from elizabus.bus.events import AgentUpdated, MessageComplete, MessageError, NewMessage
from elizabus.models import DEFAULT_SERVER_ID, ChannelType, Memory
from tests.agents.helpers import ECHO, wait_until
from tests.conftest import Published

# Every test that runs agent workers needs this mark.
# No serialized_rollback: restoring the serialized database after a plain transactional test's
# flush, which recreates the content types under new ids, failed on their unique names.
AGENT_DB = pytest.mark.django_db(transaction=True)


@dataclass
class Stage:
    """A runtime of this test's own, the bus as recorded, and Hannah, a person."""

    runtime: AgentRuntime
    published: Published
    human: uuid.UUID

    # --- making things ------------------------------------------------------------------------
    def agent(
        self, name: str = "Echo", responder: str = ECHO, options: dict[str, Any] | None = None
    ) -> uuid.UUID:
        """Registers an agent (default server, central channel); the runtime starts it."""
        agent = services.agent_register(
            name=name, responder=responder, responder_options=options or {}
        )
        assert self.runtime.bus_agent(agent.entity_id) is not None, "runtime did not start it"
        return agent.entity_id

    def channel(self, *members: uuid.UUID, server_id: uuid.UUID = DEFAULT_SERVER_ID) -> uuid.UUID:
        """A group channel of Hannah and ``members``."""
        channel = services.channel_create(
            server_id=server_id,
            name="room",
            type=ChannelType.GROUP,
            participant_ids=[self.human, *members],
        )
        return channel.id

    def say(
        self, channel_id: uuid.UUID, text: str = "hello", author: uuid.UUID | None = None
    ) -> str:
        """Posts a message (through ``message_create``, as every path does); returns its id."""
        message = services.message_create(
            channel_id=channel_id, author_id=author or self.human, content=text
        )
        return str(message.id)

    # --- reading the bus ----------------------------------------------------------------------
    def messages(self) -> list[NewMessage]:
        return self.published.of(NewMessage)

    def replies(self, message_id: str, agent_id: uuid.UUID | None = None) -> list[NewMessage]:
        return [
            event
            for event in self.messages()
            if event.in_reply_to_message_id == message_id
            and (agent_id is None or event.author_id == str(agent_id))
        ]

    def completions(self, message_id: str, agent_id: uuid.UUID | None = None) -> list[Any]:
        return [
            event
            for event in self.published.of(MessageComplete)
            if event.message_id == message_id
            and (agent_id is None or event.agent_id == str(agent_id))
        ]

    def errors(self) -> list[MessageError]:
        return self.published.of(MessageError)

    def memories(self, agent_id: uuid.UUID, message_id: str) -> int:
        return Memory.objects.filter(agent_id=agent_id, message_id=message_id).count()

    # --- waiting ------------------------------------------------------------------------------
    def wait_reply(self, message_id: str, agent_id: uuid.UUID) -> NewMessage:
        return wait_until(
            lambda: next(iter(self.replies(message_id, agent_id)), None),
            what=f"{agent_id}'s reply to {message_id}",
        )

    def wait_done(self, message_id: str, agent_id: uuid.UUID) -> None:
        wait_until(
            lambda: self.completions(message_id, agent_id),
            what=f"{agent_id}'s message_complete for {message_id}",
        )

    def settle(self, agent_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        """Waits until the agent has handled everything delivered to it so far: its worker
        takes events in order, so once it completes a fresh message in ``channel_id`` (where
        it answers), whatever came before was handled or dropped."""
        self.wait_done(self.say(channel_id, "are you there?"), agent_id)


@pytest.fixture
def stage(transactional_db: None, published: Published) -> Iterator[Stage]:
    runtime = AgentRuntime()
    uid = "tests.agents.runtime"
    dispatch.connect(AgentUpdated, runtime.on_agent_update, dispatch_uid=uid)
    runtime.activate()
    human = uuid.uuid4()
    services.entity_ensure(entity_id=human, name="Hannah")
    try:
        yield Stage(runtime=runtime, published=published, human=human)
    finally:
        dispatch.disconnect(AgentUpdated, dispatch_uid=uid)
        runtime.deactivate()
