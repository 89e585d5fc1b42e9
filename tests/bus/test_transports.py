"""Transports are chosen by a dotted path (``ELIZABUS["BUS_TRANSPORT"]``), built and started once;
a transport that fails to send never breaks the writer, and what it did not take stays unsent."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import pytest
from django.test import override_settings

from elizabus import services
from elizabus.bus.events import BusEvent
from elizabus.bus.models import OutboxEvent
from elizabus.bus.outbox import OutboxRecord
from elizabus.bus.transports import get_transport, reset_transport
from elizabus.bus.transports.base import Taken, Transport
from elizabus.bus.transports.database import DatabaseTransport
from elizabus.models import Message
from tests.conftest import Published, World


class RecordingTransport(Transport):
    """Keeps what it is asked to send, and says when it was started and stopped; it carries
    events to every process, so the writer's own receivers are its business too."""

    shares_events = True

    instances: list[RecordingTransport] = []

    def __init__(self) -> None:
        self.sent: list[BusEvent] = []
        self.calls: list[str] = []
        RecordingTransport.instances.append(self)

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def send(self, records: Sequence[OutboxRecord], taken: Taken) -> None:
        self.sent.extend(record.event for record in records)
        taken([record.id for record in records])


class BrokenTransport(Transport):
    def send(self, records: Sequence[OutboxRecord], taken: Taken) -> None:
        raise ConnectionError("the broker is down")


def use_transport(transport: type[Transport]) -> override_settings:
    return override_settings(ELIZABUS={"BUS_TRANSPORT": f"{__name__}.{transport.__name__}"})


@pytest.fixture(autouse=True)
def _fresh_transport() -> Iterator[None]:
    reset_transport()
    RecordingTransport.instances.clear()
    yield
    reset_transport()


def test_the_default_is_the_database_transport(settings) -> None:
    settings.ELIZABUS = {k: v for k, v in settings.ELIZABUS.items() if k != "BUS_TRANSPORT"}
    transport = get_transport()
    assert type(transport) is DatabaseTransport
    assert get_transport() is transport


def test_the_transport_named_by_the_setting_carries_committed_events(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with use_transport(RecordingTransport), django_capture_on_commit_callbacks(execute=True):
        message = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content="via the broker"
        )
    [transport] = RecordingTransport.instances
    assert transport.calls == ["start"]
    assert [event.id for event in transport.sent] == [str(message.id)]
    assert published.events == []  # the transport brings them back to this process


def test_reset_stops_the_transport() -> None:
    with use_transport(RecordingTransport):
        first = get_transport()
        reset_transport()
        second = get_transport()
    assert first is not second
    assert first.calls == ["start", "stop"]
    assert second.calls == ["start"]


def test_a_failing_transport_never_breaks_the_writer(
    world: World, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks
) -> None:
    with (
        use_transport(BrokenTransport),
        caplog.at_level(logging.ERROR),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content="stored anyway"
        )
    assert Message.objects.filter(id=message.id).exists()
    assert any(
        record.exc_info and record.exc_info[0] is ConnectionError for record in caplog.records
    )
    # Left for a relay to send.
    assert OutboxEvent.objects.filter(name="new_message").latest("id").sent_at is None


def test_a_local_transport_hands_the_event_to_every_receiver_at_commit(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content="at once"
        )
    assert [event.id for event in published.events] == [str(message.id)]
