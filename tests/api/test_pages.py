"""Pages of messages come from a cache of each message's wire form, kept by the message's
version: a page read again costs one query, and what a client reads is never stale, with no
bus event needed (these tests run in a transaction, so no event is ever published)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from elizabus import services
from elizabus.api.pages import message_wire_cache
from elizabus.conf import app_settings
from tests import factories

from .helpers import assert_ok


@pytest.fixture(autouse=True)
def _empty_cache() -> Any:
    message_wire_cache.clear()
    yield
    message_wire_cache.clear()


@pytest.fixture
def channel(db: None) -> Any:
    channel = factories.make_channel()
    for n in range(5):
        factories.make_message(channel_id=channel.id, content=f"message {n}")
    return channel


def page(api: Any, channel_id: uuid.UUID, **query: Any) -> list[dict[str, Any]]:
    return assert_ok(api.get(f"channels/{channel_id}/messages", **query))["messages"]


def test_a_page_read_again_is_one_query_and_the_same_answer(
    api, channel, django_assert_num_queries
) -> None:
    first = page(api, channel.id)
    with django_assert_num_queries(1):
        again = page(api, channel.id)
    assert again == first
    assert [message["content"] for message in again] == [f"message {n}" for n in range(4, -1, -1)]


def test_an_edited_message_is_read_edited(api, channel) -> None:
    first = page(api, channel.id)
    services.message_update(message_id=uuid.UUID(first[2]["id"]), content="edited")
    again = page(api, channel.id)
    assert again[2]["content"] == "edited"
    assert [m["id"] for m in again] == [m["id"] for m in first]
    assert again[2]["updatedAt"] != first[2]["updatedAt"]


def test_a_deleted_message_and_a_cleared_channel_are_gone(api, channel) -> None:
    first = page(api, channel.id)
    services.message_delete(channel_id=channel.id, message_id=uuid.UUID(first[0]["id"]))
    assert [m["id"] for m in page(api, channel.id)] == [m["id"] for m in first[1:]]
    services.channel_clear(channel_id=channel.id)
    assert page(api, channel.id) == []


def test_a_new_message_heads_the_page(api, channel) -> None:
    page(api, channel.id)
    factories.make_message(channel_id=channel.id, content="newest")
    assert page(api, channel.id)[0]["content"] == "newest"


def test_older_pages_and_limits_come_from_the_same_entries(api, channel) -> None:
    newest = page(api, channel.id)
    older = page(api, channel.id, before=newest[1]["created_at"], limit=2)
    assert older == newest[2:4]
    assert page(api, channel.id, limit=1) == newest[:1]


def test_the_cache_keeps_at_most_its_size(api, channel, settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "MESSAGE_WIRE_CACHE_SIZE": 3}
    app_settings.reload()
    assert len(page(api, channel.id)) == 5
    assert len(message_wire_cache) == 3
    settings.ELIZABUS = {**settings.ELIZABUS, "MESSAGE_WIRE_CACHE_SIZE": 0}
    app_settings.reload()
    message_wire_cache.clear()
    assert len(page(api, channel.id)) == 5
    assert len(message_wire_cache) == 0
