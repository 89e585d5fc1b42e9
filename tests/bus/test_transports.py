"""Transports are chosen by a dotted path (``ELIZABUS["BUS_TRANSPORT"]``), built and started once,
and a transport that fails to send never breaks the writer."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.test import override_settings

from elizabus import services
from elizabus.bus.events import BusEvent, NewMessage
from elizabus.bus.transports import get_transport, reset_transport
from elizabus.bus.transports.base import Transport
from elizabus.bus.transports.inprocess import InProcessTransport
from elizabus.models import Message
from tests.conftest import Published, World


class RecordingTransport(Transport):
    """Keeps what it is asked to send, and says when it was started and stopped."""

    instances: list[RecordingTransport] = []

    def __init__(self) -> None:
        self.sent: list[BusEvent] = []
        self.calls: list[str] = []
        RecordingTransport.instances.append(self)

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def send(self, event: BusEvent) -> None:
        self.sent.append(event)


class BrokenTransport(Transport):
    def send(self, event: BusEvent) -> None:
        raise ConnectionError("the broker is down")


def use_transport(transport: type[Transport]) -> override_settings:
    return override_settings(ELIZABUS={"BUS_TRANSPORT": f"{__name__}.{transport.__name__}"})


@pytest.fixture(autouse=True)
def _fresh_transport() -> Iterator[None]:
    reset_transport()
    RecordingTransport.instances.clear()
    yield
    reset_transport()


def test_the_default_is_the_in_process_transport() -> None:
    transport = get_transport()
    assert type(transport) is InProcessTransport
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
    assert published.events == []  # the in-process receivers are the transport's business


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


def test_the_in_process_transport_dispatches_at_once(published: Published) -> None:
    event = NewMessage(
        id="m", channel_id="c", message_server_id="s", author_id="a", content="x", created_at=0
    )
    InProcessTransport().send(event)
    assert published.events == [event]
