"""The outbox and its relay: an event is stored with its transaction and marked sent once the
transport took it; what a dead writer left unsent is sent by a relay, to the ``ONCE``
receivers too; under the database transport a process follows the events the others commit,
and never its own; sent events are pruned after their time."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from elizabus import services
from elizabus.bus import dispatch, outbox
from elizabus.bus.dispatch import ONCE
from elizabus.bus.events import BusEvent, ChannelDeleted
from elizabus.bus.models import OutboxEvent
from elizabus.bus.relay import Relay, relay
from elizabus.models import CENTRAL_CHANNEL_ID
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)


def _foreign(event: BusEvent, *, age: dt.timedelta = dt.timedelta(0), origin: str = "") -> int:
    """An event committed by another process (which may since have died)."""
    row = OutboxEvent.objects.create(
        name=event.name,
        data=event.to_dict(),
        origin=origin or f"elsewhere:{uuid.uuid4()}",
        created_at=timezone.now() - age,
    )
    return row.id


def _wait_until_sent(row: OutboxEvent, *, seconds: float) -> None:
    """Until the running relay marked ``row`` sent, or ``seconds`` passed; ``row`` is fresh."""
    for _ in range(int(seconds / 0.05)):
        row.refresh_from_db()
        if row.sent_at is not None:
            return
        time.sleep(0.05)
    row.refresh_from_db()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, BusEvent, int]] = []

    def receiver(self, scope_name: str) -> Any:
        def receive(sender: Any, event: BusEvent, event_id: int = 0, **kwargs: Any) -> None:
            self.events.append((scope_name, event, event_id))

        return receive


@pytest.fixture
def by_scope() -> Iterator[Recorder]:
    """Records ``channel_deleted`` per scope: EACH, ONCE and a group."""
    recorder = Recorder()
    scopes = {"each": dispatch.EACH, "once": dispatch.ONCE, "group": dispatch.group("tests-g")}
    for name, scope in scopes.items():
        dispatch.connect(
            ChannelDeleted, recorder.receiver(name), dispatch_uid=f"tests:{name}", scope=scope
        )
    yield recorder
    for name in scopes:
        dispatch.disconnect(ChannelDeleted, dispatch_uid=f"tests:{name}")


def test_an_event_is_stored_with_its_transaction_and_only_then(world: World) -> None:
    before = OutboxEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_create(channel_id=world.channel.id, author_id=world.bob, content="no")
        assert OutboxEvent.objects.count() == before + 1
        raise RuntimeError("rolled back")
    assert OutboxEvent.objects.count() == before
    message = services.message_create(channel_id=world.channel.id, author_id=world.bob, content="y")
    row = OutboxEvent.objects.latest("id")
    assert (row.name, row.data["id"], row.channel_id) == (
        "new_message",
        str(message.id),
        str(world.channel.id),
    )
    assert row.origin == outbox.process_origin()


def test_the_running_relay_marks_what_the_transport_took(world: World) -> None:
    relay.start()
    try:
        message = services.message_create(
            channel_id=world.channel.id, author_id=world.bob, content="sent"
        )
        row = OutboxEvent.objects.get(data__id=str(message.id))
        _wait_until_sent(row, seconds=5)
    finally:
        relay.stop()
    assert row.sent_at is not None


def test_what_a_dead_writer_left_is_sent_once_to_the_once_receivers(by_scope: Recorder) -> None:
    left = ChannelDeleted(channel_id=str(uuid.uuid4()))
    fresh = ChannelDeleted(channel_id=str(uuid.uuid4()))
    left_id = _foreign(left, age=dt.timedelta(seconds=60))
    _foreign(fresh)  # its writer may still send it: not yet
    relay = Relay()
    assert relay.repair() == 1
    assert by_scope.events == [("once", left, left_id)]
    assert OutboxEvent.objects.get(id=left_id).sent_at is not None
    assert relay.repair() == 0  # and not again


def test_an_event_whose_once_receiver_failed_is_repaired_until_it_succeeds(
    world: World, settings
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "BUS_RELAY_GRACE_SECONDS": 3600}
    calls: list[int] = []

    def broadcast_while_redis_is_away(sender: Any, event: BusEvent, **kwargs: Any) -> None:
        calls.append(kwargs["event_id"])
        if len(calls) == 1:
            raise ConnectionError("the channel layer is unreachable")

    uid = "tests:flaky"
    dispatch.connect(ChannelDeleted, broadcast_while_redis_is_away, dispatch_uid=uid, scope=ONCE)
    relay.start()
    try:
        services.channel_delete(channel_id=world.channel.id)
        failed = OutboxEvent.objects.get(name="channel_deleted")
        later = services.message_create(
            channel_id=CENTRAL_CHANNEL_ID, author_id=world.bob, content="fine"
        )
        fine = OutboxEvent.objects.get(data__id=str(later.id))
        _wait_until_sent(fine, seconds=5)
        failed.refresh_from_db()
        assert calls == [failed.id]
        assert (fine.sent_at is not None, failed.sent_at) == (True, None)  # left for repair
    finally:
        relay.stop()
    try:
        aged = timezone.now() - dt.timedelta(hours=2)
        OutboxEvent.objects.filter(id=failed.id).update(created_at=aged)
        assert Relay().repair() == 1
        assert calls == [failed.id, failed.id]
        failed.refresh_from_db()
        assert failed.sent_at is not None
    finally:
        dispatch.disconnect(ChannelDeleted, dispatch_uid=uid)


@pytest.mark.parametrize("goes_well", [True, False])
def test_an_event_is_marked_sent_only_once_its_once_receivers_work_is_done(
    world: World, settings, goes_well: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "BUS_RELAY_GRACE_SECONDS": 3600}
    queued: Future[None] = Future()  # a broadcast waiting on the server's loop

    def broadcast(sender: Any, event: BusEvent, **kwargs: Any) -> Future[None]:
        return queued

    uid = "tests:queued"
    dispatch.connect(ChannelDeleted, broadcast, dispatch_uid=uid, scope=ONCE)
    relay.start()
    try:
        services.channel_delete(channel_id=world.channel.id)
        row = OutboxEvent.objects.get(name="channel_deleted")
        relay._stopping.wait(0.5)  # several ticks of the relay
        row.refresh_from_db()
        assert row.sent_at is None  # the process may still die before it is out
        if goes_well:
            queued.set_result(None)
        else:
            queued.set_exception(ConnectionError("given up"))
        _wait_until_sent(row, seconds=2)
        assert (row.sent_at is not None) is goes_well
    finally:
        relay.stop()
        dispatch.disconnect(ChannelDeleted, dispatch_uid=uid)


def test_two_relays_never_repair_the_same_event(by_scope: Recorder) -> None:
    _foreign(ChannelDeleted(channel_id="c"), age=dt.timedelta(seconds=60))
    claimed = outbox.claim_unsent(
        older_than=dt.timedelta(seconds=5), hold=dt.timedelta(seconds=30), limit=10
    )
    assert len(claimed) == 1
    assert Relay().repair() == 0  # held by the first relay


def test_a_follower_delivers_other_processes_events_but_not_its_own(
    by_scope: Recorder, world: World
) -> None:
    relay = Relay()
    relay.follow()  # starts at the newest event
    theirs = ChannelDeleted(channel_id=str(uuid.uuid4()))
    theirs_id = _foreign(theirs)
    services.message_create(channel_id=world.channel.id, author_id=world.bob, content="mine")
    assert relay.follow() == 1
    assert by_scope.events == [("each", theirs, theirs_id), ("group", theirs, theirs_id)]
    assert relay.follow() == 0


def test_a_follower_waits_for_an_id_committed_late(by_scope: Recorder) -> None:
    relay = Relay()
    relay.follow()
    first = _foreign(ChannelDeleted(channel_id="a"))
    late = OutboxEvent.objects.get(id=first)
    late.delete()  # as if its id were taken by a transaction still open
    second = _foreign(ChannelDeleted(channel_id="b"))
    assert relay.follow() == 1
    OutboxEvent.objects.create(
        id=first,
        name="channel_deleted",
        data={"channel_id": "a"},
        origin="elsewhere",
        created_at=timezone.now(),
    )
    assert relay.follow() == 1
    assert [event_id for scope, _, event_id in by_scope.events if scope == "each"] == [
        second,
        first,
    ]


def test_prune_deletes_only_sent_events_past_their_time(capsys: pytest.CaptureFixture) -> None:
    old = dt.timedelta(days=30)
    sent_old = _foreign(ChannelDeleted(channel_id="a"), age=old)
    unsent_old = _foreign(ChannelDeleted(channel_id="b"), age=old)
    sent_new = _foreign(ChannelDeleted(channel_id="c"))
    newest_sent_old = _foreign(ChannelDeleted(channel_id="d"), age=old)
    OutboxEvent.objects.filter(id__in=[sent_old, sent_new, newest_sent_old]).update(
        sent_at=timezone.now()
    )
    call_command("bus_prune", "--hours", "24")
    left = set(OutboxEvent.objects.values_list("id", flat=True))
    assert sent_old not in left
    assert {unsent_old, sent_new, newest_sent_old} <= left  # the newest row always stays
    assert "Pruned 1 sent bus event" in capsys.readouterr().out
