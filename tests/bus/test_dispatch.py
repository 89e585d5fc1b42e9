"""Delivery in one process: a failing receiver is logged and counted, and breaks neither the writer
nor the other receivers; connecting is idempotent by ``dispatch_uid``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from elizabus import services
from elizabus.bus import dispatch
from elizabus.bus.events import BusEvent, ChannelDeleted, NewMessage
from elizabus.bus.metrics import BusMetrics
from elizabus.models import Message
from tests.conftest import ConnectReceiver, Published, World


class ReceiverBroke(Exception):
    pass


def broken_receiver(sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
    raise ReceiverBroke(f"cannot handle {event.name}")


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_failing_receiver_breaks_neither_the_writer_nor_the_other_receivers(
    position: str,
    world: World,
    metrics: BusMetrics,
    connect_receiver: ConnectReceiver,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks,
) -> None:
    received: list[BusEvent] = []

    def healthy(sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
        received.append(event)

    receivers = [("tests.broken", broken_receiver), ("tests.healthy", healthy)]
    for label, receiver in receivers if position == "before" else reversed(receivers):
        connect_receiver(NewMessage, receiver, label=label)

    with (
        caplog.at_level(logging.ERROR, logger="elizabus.bus.dispatch"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content="still stored"
        )

    assert Message.objects.filter(id=message.id, content="still stored").exists()
    assert [event.id for event in received] == [str(message.id)]
    [record] = [record for record in caplog.records if "tests." in record.getMessage()]
    assert record.getMessage() == "bus receiver tests.broken failed on new_message"
    assert record.exc_info is not None and record.exc_info[0] is ReceiverBroke
    summaries = metrics.snapshot()["receivers"]["new_message"]
    assert summaries["tests.broken"]["count"] == 1
    assert summaries["tests.broken"]["failures"] == 1
    assert summaries["tests.healthy"]["failures"] == 0


def test_every_failure_is_counted(
    world: World,
    metrics: BusMetrics,
    connect_receiver: ConnectReceiver,
    django_capture_on_commit_callbacks,
) -> None:
    connect_receiver(NewMessage, broken_receiver, label="tests.broken")
    with django_capture_on_commit_callbacks(execute=True):
        for text in ("one", "two", "three"):
            services.message_create(channel_id=world.channel.id, author_id=world.bob, content=text)
    summary = metrics.snapshot()["receivers"]["new_message"]["tests.broken"]
    assert (summary["count"], summary["failures"]) == (3, 3)


def test_connecting_twice_with_one_uid_connects_once(published: Published) -> None:
    before = dispatch.receiver_count(ChannelDeleted)
    for _ in range(2):
        dispatch.connect(
            ChannelDeleted, published.receive, dispatch_uid="tests.twice", label="tests.twice"
        )
    try:
        assert dispatch.receiver_count(ChannelDeleted) == before + 1
        dispatch.dispatch_local(ChannelDeleted(channel_id=str(uuid.uuid4())))
        assert len(published.events) == 2  # the fixture's recorder and tests.twice, once each
    finally:
        assert dispatch.disconnect(ChannelDeleted, dispatch_uid="tests.twice") is True
    assert dispatch.disconnect(ChannelDeleted, dispatch_uid="tests.twice") is False
    assert dispatch.receiver_count(ChannelDeleted) == before


def test_a_receiver_gets_only_its_own_event_type(published: Published) -> None:
    event = ChannelDeleted(channel_id=str(uuid.uuid4()))
    dispatch.dispatch_local(event)
    assert published.events == [event]


class Handler:
    def on_event(self, sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("receiver", "name"),
    [
        (broken_receiver, "tests.bus.test_dispatch.broken_receiver"),
        (Handler().on_event, "tests.bus.test_dispatch.Handler.on_event"),
    ],
    ids=["function", "bound method"],
)
def test_receiver_name_is_the_dotted_path(receiver: Any, name: str) -> None:
    assert dispatch.receiver_name(receiver) == name


def test_the_default_label_is_the_receiver_name(metrics: BusMetrics) -> None:
    dispatch.connect(ChannelDeleted, Handler().on_event, dispatch_uid="tests.default-label")
    try:
        dispatch.dispatch_local(ChannelDeleted(channel_id=str(uuid.uuid4())))
    finally:
        dispatch.disconnect(ChannelDeleted, dispatch_uid="tests.default-label")
    assert (
        "tests.bus.test_dispatch.Handler.on_event"
        in metrics.snapshot()["receivers"]["channel_deleted"]
    )
