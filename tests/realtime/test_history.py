"""What a resuming socket is sent: exactly the messages after its offset (a seq, or the seq of
the message it names), oldest first, with the channel's newest seq and whether that is all; and
what the rooms read to catch up, page by page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from elizabus import services
from elizabus.conf import app_settings
from elizabus.models import Message
from elizabus.realtime.history import missed, stored_after
from tests.conftest import World
from tests.test_selectors import history, post, quiet  # noqa: F401 - the fixtures, shared

pytestmark = pytest.mark.django_db


def ids(events: list[Any]) -> list[str]:
    return [event.id for event in events]


def test_what_came_after_a_message_is_resent_oldest_first(
    world: World,
    history: list[Message],  # noqa: F811
) -> None:
    found = missed(channel_id=world.channel.id, after_message_id=history[1].id)
    assert ids(found.events) == [str(m.id) for m in history[2:]]
    assert [event.content for event in found.events] == ["at 2", "at 3", "at 4"]
    assert [event.seq for event in found.events] == [4, 5, 6]
    assert (found.last_seq, found.complete, found.covered) == (6, True, range(4, 7))


def test_an_older_message_stored_a_moment_before_is_not_resent(quiet: World) -> None:  # noqa: F811
    # Stored after, but stamped in the same millisecond or before: the seq is the order.
    seen, after = post(quiet, 9, "seen"), post(quiet, 8, "after, stamped earlier")
    found = missed(channel_id=quiet.channel.id, after_message_id=seen.id)
    assert ids(found.events) == [str(after.id)]


def test_a_seq_offset_wins_over_a_message_id(
    world: World,
    history: list[Message],  # noqa: F811
) -> None:
    found = missed(channel_id=world.channel.id, after_seq=5, after_message_id=history[0].id)
    assert ids(found.events) == [str(history[4].id)]
    assert missed(channel_id=world.channel.id, after_seq=6).events == []


def test_a_deleted_message_leaves_its_seq_covered_and_not_resent(
    world: World,
    history: list[Message],  # noqa: F811
) -> None:
    services.message_delete(channel_id=world.channel.id, message_id=history[3].id)
    found = missed(channel_id=world.channel.id, after_seq=3)
    assert [event.seq for event in found.events] == [4, 6]
    assert found.covered == range(4, 7) and found.complete


def test_past_the_limit_the_newest_are_resent_and_it_says_so(
    world: World,
    history: list[Message],  # noqa: F811
    settings: Any,
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_RESUME_LIMIT": 2}
    app_settings.reload()
    found = missed(channel_id=world.channel.id, after_seq=1)
    assert [event.seq for event in found.events] == [5, 6]
    assert not found.complete and found.covered == range(5, 7)


def test_an_id_the_channel_does_not_hold_resends_nothing(world: World) -> None:
    found = missed(channel_id=world.channel.id, after_message_id=uuid.uuid4())
    assert found.events == [] and not found.complete and found.last_seq == 1
    assert found.covered == range(0)


def test_the_rooms_read_what_was_stored_after_an_offset_page_by_page(
    world: World,
    history: list[Message],  # noqa: F811
    settings: Any,
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_RESUME_LIMIT": 2}
    app_settings.reload()
    first = stored_after(channel_id=world.channel.id, after_seq=2)
    assert [event.seq for event in first.events] == [3, 4]
    assert (first.last_seq, first.complete) == (4, False)
    second = stored_after(channel_id=world.channel.id, after_seq=first.last_seq)
    assert [event.seq for event in second.events] == [5, 6]
    assert (second.last_seq, second.complete) == (6, True)
