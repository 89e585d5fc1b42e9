"""The hand-built statements of a message post store and read exactly what the ORM would, on
the database the suite runs on (SQLite, or PostgreSQL under DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict

from elizabus import services
from elizabus.db import rows
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Entity, EntityKind, Message
from tests.factories import make_channel, make_user

pytestmark = pytest.mark.django_db

REPLIED_TO = uuid.UUID("6254b671-ea8d-4387-84dd-9dc25dacbc0b")
# Seqs no service takes in these tests' channels: the rows are inserted by hand.
_seqs = itertools.count(1_000_000)


def _message(author: Entity, channel_id: uuid.UUID = CENTRAL_CHANNEL_ID) -> Message:
    return Message(
        id=uuid.uuid4(),
        channel_id=channel_id,
        author_id=author.id,
        content="héllo ✓ 'quoted' \"too\"",
        raw_message={"nested": {"list": [1, 2.5, None, True]}, "text": "ünï"},
        metadata={"user_display_name": "Ann", "attachments": []},
        in_reply_to_id=REPLIED_TO,
        source_type="eliza_gui",
        source_id="client-1",
        created_at=dt.datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=dt.UTC),
        seq=next(_seqs),
    )


def test_an_inserted_message_reads_back_as_the_orm_stores_it() -> None:
    author = make_user(name="Ann")
    by_hand, by_orm = _message(author), _message(author)
    rows.insert(by_hand)
    by_orm.save(force_insert=True)

    stored_by_hand = Message.objects.get(id=by_hand.id)
    stored_by_orm = Message.objects.get(id=by_orm.id)
    ignore = {"id", "updated_at", "seq"}
    assert {k: v for k, v in model_to_dict(stored_by_hand).items() if k not in ignore} == {
        k: v for k, v in model_to_dict(stored_by_orm).items() if k not in ignore
    }
    assert stored_by_hand.raw_message == by_hand.raw_message
    assert stored_by_hand.created_at == by_hand.created_at
    # auto_now is stamped as the ORM stamps it.
    assert stored_by_hand.updated_at is not None and by_hand.updated_at == stored_by_hand.updated_at
    assert not by_hand._state.adding


def test_a_message_without_raw_message_stores_null() -> None:
    author = make_user()
    message = _message(author)
    message.raw_message = None
    rows.insert(message)
    assert Message.objects.get(id=message.id).raw_message is None


def test_ignore_conflicts_keeps_the_existing_row() -> None:
    entity_id = uuid.uuid4()
    rows.insert(Entity(id=entity_id, kind=EntityKind.USER, names=["first"]), ignore_conflicts=True)
    rows.insert(
        Entity(id=entity_id, kind=EntityKind.AGENT, names=["second"]), ignore_conflicts=True
    )
    entity = Entity.objects.get(id=entity_id)
    assert (entity.kind, entity.names) == (EntityKind.USER, ["first"])


def test_a_duplicate_key_without_ignore_conflicts_is_refused() -> None:
    author = make_user()
    message = _message(author)
    rows.insert(message)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(message)
    assert Message.objects.filter(id=message.id).count() == 1


def test_channel_server_names_the_channels_server_or_none() -> None:
    channel = make_channel()
    assert rows.channel_server(channel.id) == channel.server_id
    with transaction.atomic():
        assert rows.channel_server(CENTRAL_CHANNEL_ID, lock=True) == DEFAULT_SERVER_ID
    assert rows.channel_server(uuid.uuid4()) is None


def test_taking_a_seq_counts_up_and_names_the_server_and_newest_message() -> None:
    author = make_user()
    channel = make_channel()
    with transaction.atomic():
        assert rows.channel_take_seq(channel.id) == (channel.server_id, 1, None)
    times = [dt.datetime(2026, 1, 1, 0, 0, second, 5000, tzinfo=dt.UTC) for second in (3, 9, 5)]
    for created_at in times:
        message = _message(author, channel.id)
        message.created_at = created_at
        rows.insert(message)
    with transaction.atomic():
        server_id, seq, newest = rows.channel_take_seq(channel.id)
    assert (server_id, seq) == (channel.server_id, 2)
    assert newest == max(times) and newest.tzinfo is not None
    assert rows.channel_take_seq(uuid.uuid4()) is None


def test_a_seq_taken_in_a_transaction_that_rolls_back_is_taken_again() -> None:
    channel = make_channel()
    with pytest.raises(ValueError), transaction.atomic():
        assert rows.channel_take_seq(channel.id)[1] == 1
        raise ValueError("rolled back")
    with transaction.atomic():
        assert rows.channel_take_seq(channel.id)[1] == 1
        rows.channel_give_back_seq(channel.id)
        assert rows.channel_take_seq(channel.id)[1] == 1


def _history(channel_id: uuid.UUID, author: Entity) -> dt.datetime:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(7):
        message = _message(author, channel_id)
        # Two messages share each timestamp: the id breaks the tie, as in the ORM's order.
        message.created_at = base + dt.timedelta(milliseconds=n // 2)
        message.raw_message = None if n == 3 else {"n": n}
        message.in_reply_to_id = None if n % 2 else REPLIED_TO
        rows.insert(message)
    return base


def test_a_pages_versions_come_in_the_orms_order() -> None:
    channel = make_channel()
    base = _history(channel.id, make_user())
    newest_first = Message.objects.filter(channel_id=channel.id).order_by("-created_at", "-id")

    for limit, before in [(50, None), (3, None), (50, base + dt.timedelta(milliseconds=2))]:
        expected = newest_first.filter(created_at__lt=before) if before else newest_first
        versions = rows.message_page_versions(channel.id, limit=limit, before=before)
        found = rows.messages_by_id([message_id for message_id, _ in versions])
        assert [found[message_id][1]["id"] for message_id, _ in versions] == [
            message.id for message in expected[:limit]
        ]
    assert rows.message_page_versions(uuid.uuid4(), limit=50) == []


def test_messages_by_id_hold_what_the_orms_values_would() -> None:
    channel = make_channel()
    _history(channel.id, make_user())
    versions = rows.message_page_versions(channel.id, limit=50)
    found = rows.messages_by_id([message_id for message_id, _ in versions])
    for version in versions:
        found_version, row = found[version[0]]
        assert found_version == version
        assert row == Message.objects.filter(id=row["id"]).values(*rows.MESSAGE_COLUMNS).get()
    assert rows.messages_by_id([]) == {}


def test_an_edited_message_has_a_new_version() -> None:
    channel = make_channel()
    author = make_user()
    message = _message(author, channel.id)
    rows.insert(message)
    [before] = rows.message_page_versions(channel.id, limit=1)
    services.message_update(message_id=message.id, content="edited")
    [after] = rows.message_page_versions(channel.id, limit=1)
    assert before[0] == after[0] and before[1] != after[1]
