"""What a resuming socket is sent: what came after the last message it saw, and what came in
the overlap just before it, which it may not have got; nothing for an id its channel lacks."""

from __future__ import annotations

import uuid

import pytest

from elizabus.models import Message
from elizabus.realtime.history import missed_after
from tests.conftest import World
from tests.test_selectors import history, post, quiet  # noqa: F401 - the fixtures, shared

pytestmark = pytest.mark.django_db


def test_what_came_after_is_resent_oldest_first(world: World, history: list[Message]) -> None:  # noqa: F811
    missed = missed_after(channel_id=world.channel.id, message_id=history[1].id)
    assert [event.id for event in missed] == [str(m.id) for m in history[2:]]
    assert [event.content for event in missed] == ["at 2", "at 3", "at 4"]


def test_what_came_just_before_the_last_one_seen_is_resent_too(quiet: World) -> None:  # noqa: F811
    # Stored a moment before the last message the client saw, and maybe still on its way then.
    on_its_way, seen = post(quiet, 9, "on its way"), post(quiet, 9, "seen")
    long_before = post(quiet, 8, "long before")
    missed = missed_after(channel_id=quiet.channel.id, message_id=seen.id)
    assert [event.id for event in missed] == [str(on_its_way.id)]
    assert str(long_before.id) not in [event.id for event in missed]


def test_an_id_the_channel_does_not_hold_resends_nothing(world: World) -> None:
    assert missed_after(channel_id=world.channel.id, message_id=uuid.uuid4()) == []
