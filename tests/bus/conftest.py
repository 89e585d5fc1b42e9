"""Fixtures for bus and service tests: a recorder of every published event, a small world of rows,
a way to connect a test receiver that is always disconnected again, and a snapshot of every row.

Rows come from :mod:`tests.factories`, that is through the services. ``tests/services`` and
``tests/test_selectors.py`` import these fixtures; they belong in ``tests/conftest.py`` once that
file takes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db.models import Model

from elizabus.bus import dispatch
from elizabus.bus.events import EVENT_TYPES, BusEvent
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
from tests import factories

RECORDER_LABEL = "tests.published"


@dataclass
class Published:
    """Every event delivered to this process's receivers during a test, in delivery order."""

    events: list[BusEvent] = field(default_factory=list)

    def receive(self, sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, event_type: type[BusEvent]) -> list[BusEvent]:
        return [event for event in self.events if type(event) is event_type]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def published() -> Iterator[Published]:
    """Records every event of every type in ``EVENT_TYPES``, from its dispatch on."""
    recorder = Published()
    uids = {name: f"{RECORDER_LABEL}:{name}" for name in EVENT_TYPES}
    for name, event_type in EVENT_TYPES.items():
        dispatch.connect(
            event_type, recorder.receive, dispatch_uid=uids[name], label=RECORDER_LABEL
        )
    yield recorder
    for name, event_type in EVENT_TYPES.items():
        dispatch.disconnect(event_type, dispatch_uid=uids[name])


ConnectReceiver = Callable[..., None]


@pytest.fixture
def connect_receiver() -> Iterator[ConnectReceiver]:
    """``connect_receiver(event_type, receiver, label=...)``: connected now, disconnected after."""
    connected: list[tuple[type[BusEvent], str]] = []

    def connect(event_type: type[BusEvent], receiver: Callable[..., Any], *, label: str) -> None:
        uid = f"tests:{label}:{event_type.name}"
        dispatch.connect(event_type, receiver, dispatch_uid=uid, label=label)
        connected.append((event_type, uid))

    yield connect
    for event_type, uid in connected:
        dispatch.disconnect(event_type, dispatch_uid=uid)


@dataclass(frozen=True)
class World:
    """A server with one channel (Alice a participant, holding one message of hers), Bob known
    but in no channel, and a registered agent (so subscribed to the default server and seated in
    the central channel) also subscribed to the server.

    No event of its making is ever delivered: its on-commit callbacks are registered before any
    capture starts and are dropped with the test's transaction.
    """

    server: MessageServer
    channel: Channel
    message: Message
    alice: uuid.UUID
    bob: uuid.UUID
    agent: Agent


@pytest.fixture
def world(db: None) -> World:
    server = factories.make_server()
    alice = factories.make_user(name="Alice").id
    bob = factories.make_user(name="Bob").id
    channel = factories.make_channel(server_id=server.id, name="general", participant_ids=[alice])
    message = factories.make_message(channel_id=channel.id, author_id=alice, content="hello")
    agent = factories.make_agent(name="Eliza", server_ids=[server.id])
    return World(server=server, channel=channel, message=message, alice=alice, bob=bob, agent=agent)


STATE_MODELS: tuple[type[Model], ...] = (
    MessageServer,
    Entity,
    Channel,
    Participant,
    Message,
    Agent,
    ServerAgent,
    Memory,
)


def db_state() -> dict[str, list[dict[str, Any]]]:
    """Every domain row, as values, in a stable order: equal before and after a rollback."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values()) for model in STATE_MODELS
    }
