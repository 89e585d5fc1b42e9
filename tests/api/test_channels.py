"""The channels router, as the reference answers it: channels, their messages and their
participants, under ``/channels`` and the deprecated ``/central-channels``."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid

import pytest
from django.utils import timezone

from elizabus.models import DEFAULT_SERVER_ID, Channel, Message, Participant
from tests import factories

from .helpers import ZERO, assert_error, assert_ok, new_id

PREFIXES = ["channels", "central-channels"]

USER_MESSAGE_KEYS = {
    "id",
    "channel_id",
    "message_server_id",
    "author_id",
    "author_display_name",
    "content",
    "created_at",
    "raw_message",
    "source_id",
    "source_type",
    "in_reply_to_message_id",
    "metadata",
    # Not the reference's: the message's place in its channel.
    "seq",
}
LISTED_MESSAGE_KEYS = {
    "id",
    "channelId",
    "authorId",
    "content",
    "sourceType",
    "metadata",
    "inReplyToRootMessageId",
    "createdAt",
    "updatedAt",
    "created_at",
    "updated_at",
    "seq",
}
CHANNEL_KEYS = {"id", "messageServerId", "name", "type", "metadata", "createdAt", "updatedAt"}


def post_body(author_id: uuid.UUID | str, **fields: object) -> dict[str, object]:
    return {"author_id": str(author_id), "content": "hello", "message_server_id": ZERO, **fields}


def participants_of(channel_id: uuid.UUID | str) -> set[uuid.UUID]:
    return set(
        Participant.objects.filter(channel_id=channel_id).values_list("entity_id", flat=True)
    )


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``timezone.now()`` is one millisecond after the last: messages made in a tight loop
    get distinct epoch-ms timestamps, as messages typed by people do."""
    start = timezone.now() - dt.timedelta(days=1)
    ticks = itertools.count()
    monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(milliseconds=next(ticks)))


# --- POST /channels/:id/messages ----------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_post_message_answers_the_stored_message_as_user_message_and_data(api, room, prefix):
    body = post_body(
        room.alice,
        metadata={"user_display_name": "Alice"},
        raw_message={"thought": "t"},
    )
    response = api.post(f"{prefix}/{room.id}/messages", body)

    assert response.status_code == 201
    payload = response.json()
    assert set(payload) == {"success", "userMessage", "data"}
    assert payload["success"] is True and payload["data"] == payload["userMessage"]
    user_message = payload["userMessage"]
    assert set(user_message) == USER_MESSAGE_KEYS
    stored = Message.objects.get()
    assert user_message["id"] == str(stored.id)
    assert user_message["channel_id"] == room.id
    assert user_message["message_server_id"] == ZERO
    assert user_message["author_id"] == str(room.alice)
    assert user_message["author_display_name"] == "Alice"
    assert user_message["content"] == "hello"
    assert user_message["source_type"] == "eliza_gui"
    assert user_message["raw_message"] == {"thought": "t"}
    assert user_message["created_at"] == int(stored.created_at.timestamp() * 1000)
    assert user_message["seq"] == stored.seq == 1


def test_post_message_accepts_the_v1_server_id_field(api, room):
    body = {"author_id": str(room.alice), "content": "hi", "server_id": ZERO}

    user_message = api.post(room.messages, body).json()["userMessage"]

    assert user_message["message_server_id"] == ZERO
    assert Message.objects.get().content == "hi"


def test_post_message_to_a_new_channel_id_creates_a_group_channel(api):
    author, channel_id = new_id(), new_id()

    api.post(f"channels/{channel_id}/messages", post_body(author))

    details = assert_ok(api.get(f"channels/{channel_id}/details"))
    assert details["name"] == f"Chat {channel_id[:8]}"
    assert details["type"] == "GROUP"
    assert details["sourceType"] == "auto_created"
    assert details["metadata"]["created_by"] == "gui_auto_creation"
    assert details["metadata"]["created_for_user"] == author
    assert details["metadata"]["created_at"].endswith("Z")
    assert participants_of(channel_id) == {uuid.UUID(author)}


@pytest.mark.parametrize(
    "dm_metadata",
    [{"isDm": True}, {"channelType": "DM"}, {"channel_type": "dm"}],
    ids=["isDm", "channelType", "channel_type"],
)
def test_auto_created_dm_is_found_again_by_dm_channel(api, dm_metadata):
    author, target, channel_id = new_id(), new_id(), new_id()
    body = post_body(author, metadata={**dm_metadata, "targetUserId": target})

    assert api.post(f"channels/{channel_id}/messages", body).status_code == 201

    for current, other in [(author, target), (target, author)]:
        found = assert_ok(api.get("dm-channel", currentUserId=current, targetUserId=other))
        assert found["id"] == channel_id
    assert found["type"] == "DM"
    assert participants_of(channel_id) == {uuid.UUID(author), uuid.UUID(target)}
    assert Channel.objects.filter(type="DM").count() == 1


def test_post_message_to_unknown_server_creates_nothing(api, unchanged):
    body = {**post_body(new_id()), "message_server_id": new_id()}

    with unchanged():
        assert_error(api.post(f"channels/{new_id()}/messages", body), 404, "SERVER_NOT_FOUND")


def test_post_message_with_another_channels_server_is_refused(api, room, unchanged):
    other_server = factories.make_server()
    body = {**post_body(room.alice), "message_server_id": str(other_server.id)}

    with unchanged():
        assert_error(api.post(room.messages, body), 400, "SERVER_MISMATCH")


@pytest.mark.parametrize("missing", ["author_id", "content", "message_server_id"])
def test_post_message_without_a_required_field_is_refused(api, room, unchanged, missing):
    body = post_body(room.alice)
    del body[missing]

    with unchanged():
        error = assert_error(api.post(room.messages, body), 400, "VALIDATION_ERROR")
    assert error["message"] == (
        "Missing required fields: channelId, message_server_id, author_id, content"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content", 5),
        ("content", True),
        ("content", ["hello"]),
        ("content", None),
        ("content", ""),
        ("content", {"text": "hello"}),
        ("author_id", 5),
        ("author_id", "not-a-uuid"),
        ("author_id", None),
        ("message_server_id", False),
        ("message_server_id", "00000000-0000-0000-0000"),
        ("metadata", "isDm"),
        ("metadata", [1]),
        ("metadata", 7),
        ("raw_message", "text"),
        ("raw_message", [1]),
        ("in_reply_to_message_id", "nope"),
        ("in_reply_to_message_id", 5),
        ("source_type", 3),
        ("source_type", None),
        ("source_type", "x" * 101),
        ("author_id", "1111111111114111811111111111111"),
        ("content", "a\u0000b"),
        ("source_type", "gui\u0000"),
        ("metadata", {"k\u0000": 1}),
        ("raw_message", {"k": ["\u0000"]}),
    ],
)
def test_post_message_with_a_wrong_type_is_refused(api, room, unchanged, field, value):
    with unchanged():
        assert_error(
            api.post(room.messages, {**post_body(room.alice), field: value}),
            400,
            "VALIDATION_ERROR",
        )


def test_post_message_too_large_is_refused_with_413_before_any_other_fault(api, room, unchanged):
    body = post_body("not-a-uuid", content="x" * (64 * 1024 + 1), metadata=[1])

    with unchanged():
        assert_error(api.post(room.messages, body), 413, "CONTENT_TOO_LARGE")


def test_post_message_with_a_lone_surrogate_is_refused(api, room, unchanged):
    """JSON can spell one (``\\ud800``); no database can store it."""
    body = json.dumps(post_body(room.alice)).replace('"hello"', '"a\\ud800b"')

    with unchanged():
        assert_error(api.request("POST", room.messages, data=body), 400, "INVALID_JSON")


def test_post_message_with_a_charset_in_its_content_type_is_stored(api, room):
    body = json.dumps(post_body(room.alice, content="é"))
    content_type = "application/json; charset=utf-8"

    response = api.request("POST", room.messages, data=body, content_type=content_type)

    assert response.status_code == 201
    assert Message.objects.get().content == "é"


def test_post_message_body_is_described_in_the_schema(api):
    paths = api.client.get("/api/schema/", {"format": "json"}).json()["paths"]
    operation = paths["/api/messaging/channels/{channel_id}/messages"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]

    assert set(body["required"]) == {"author_id", "content", "message_server_id"}
    assert body["properties"]["author_id"]["format"] == "uuid"
    assert body["properties"]["in_reply_to_message_id"]["nullable"] is True
    assert body["properties"]["metadata"] == {"type": "object", "nullable": True, "default": None}


def test_post_message_to_a_new_channel_with_a_wrong_type_creates_no_channel(api, unchanged):
    with unchanged():
        response = api.post(f"channels/{new_id()}/messages", post_body(new_id(), content=12))
        assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("transport", "message"),
    [
        ("carrier-pigeon", "Invalid transport"),
        (3, 'Invalid transport type "number". Transport must be a string.'),
        (True, 'Invalid transport type "boolean". Transport must be a string.'),
        (["http"], 'Invalid transport type "object". Transport must be a string.'),
    ],
)
def test_post_message_with_an_invalid_transport_is_refused(
    api, room, unchanged, transport, message
):
    with unchanged():
        response = api.post(room.messages, post_body(room.alice, transport=transport))
        error = assert_error(response, 400, "INVALID_TRANSPORT")
    assert error["message"].startswith(message)


@pytest.mark.parametrize("transport", ["http", "sync", "sse", "stream"])
def test_waiting_transports_without_an_agent_store_nothing(api, unchanged, transport):
    """No agent can answer in a channel of one user: the reference stores the message anyway,
    elizabus refuses before anything is written, the auto-created channel included."""
    with unchanged():
        response = api.post(f"channels/{new_id()}/messages", post_body(new_id(), mode=transport))
        error = assert_error(response, 400, "NO_AGENT")
    assert error["message"] == "No agent found in channel participants"


# --- GET /channels/:id/messages -----------------------------------------------------------------


@pytest.mark.usefixtures("ticking_clock")
@pytest.mark.parametrize("prefix", PREFIXES)
def test_messages_are_listed_newest_first(api, room, prefix):
    for text in ["one", "two", "three"]:
        factories.make_message(
            channel_id=room.channel.id, author_id=room.alice, content=text, source_type="eliza_gui"
        )

    listed = assert_ok(api.get(f"{prefix}/{room.id}/messages"))["messages"]

    assert [message["content"] for message in listed] == ["three", "two", "one"]
    assert [message["seq"] for message in listed] == [3, 2, 1]
    assert all(set(message) == LISTED_MESSAGE_KEYS for message in listed)
    assert [message["created_at"] for message in listed] == sorted(
        (message["created_at"] for message in listed), reverse=True
    )


def test_listed_message_carries_the_raw_message_thought_and_actions_in_metadata(api, room):
    factories.make_message(
        channel_id=room.channel.id,
        author_id=room.agent.pk,
        content="reply",
        raw_message={"thought": "hmm", "actions": ["REPLY"], "attachments": []},
        metadata={"agentName": "Eliza"},
        source_type="agent_response",
        source_id="src-1",
    )

    (listed,) = assert_ok(api.get(room.messages))["messages"]

    assert listed["rawMessage"] == {"thought": "hmm", "actions": ["REPLY"], "attachments": []}
    assert listed["metadata"] == {
        "agentName": "Eliza",
        "thought": "hmm",
        "actions": ["REPLY"],
        "attachments": [],
    }
    assert listed["sourceType"] == "agent_response"
    assert listed["sourceId"] == "src-1"
    assert listed["createdAt"].endswith("Z")
    assert listed["inReplyToRootMessageId"] is None


@pytest.mark.usefixtures("ticking_clock")
def test_limit_and_exclusive_before(api, room):
    stored = [
        factories.make_message(channel_id=room.channel.id, author_id=room.alice, content=str(n))
        for n in range(5)
    ]
    before = int(stored[3].created_at.timestamp() * 1000)

    assert [m["content"] for m in assert_ok(api.get(room.messages, limit=2))["messages"]] == [
        "4",
        "3",
    ]
    older = assert_ok(api.get(room.messages, before=before))["messages"]
    assert [message["content"] for message in older] == ["2", "1", "0"]


@pytest.mark.usefixtures("ticking_clock")
def test_paging_with_before_returns_every_message_exactly_once(api, room):
    stored = {
        str(factories.make_message(channel_id=room.channel.id, author_id=room.alice).id)
        for _ in range(120)
    }
    seen: list[str] = []
    query: dict[str, int] = {"limit": 25}
    while page := assert_ok(api.get(room.messages, **query))["messages"]:
        seen += [message["id"] for message in page]
        query["before"] = page[-1]["created_at"]

    assert len(seen) == 120
    assert set(seen) == stored


def test_paging_reaches_messages_stored_in_the_same_millisecond(api, room, monkeypatch):
    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)
    for _ in range(30):
        factories.make_message(channel_id=room.channel.id, author_id=room.alice)

    first = assert_ok(api.get(room.messages, limit=25))["messages"]
    rest = assert_ok(api.get(room.messages, before=first[-1]["created_at"]))["messages"]

    assert len(first) + len(rest) == 30


def test_messages_of_an_unknown_channel_are_an_empty_list(api):
    assert assert_ok(api.get(f"channels/{new_id()}/messages")) == {"messages": []}


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 501}, {"limit": "abc"}, {"before": -1}, {"before": "yesterday"}],
)
def test_messages_with_a_bad_page_query_are_refused(api, room, query):
    assert_error(api.get(room.messages, **query), 400, "VALIDATION_ERROR")


# --- DELETE /channels/:id/messages/:messageId and DELETE /channels/:id/messages ----------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_delete_one_message(api, room, prefix):
    kept = factories.make_message(channel_id=room.channel.id, author_id=room.alice)
    gone = factories.make_message(channel_id=room.channel.id, author_id=room.alice)

    response = api.delete(f"{prefix}/{room.id}/messages/{gone.id}")

    assert response.status_code == 204 and response.content == b""
    assert list(Message.objects.values_list("id", flat=True)) == [kept.id]


def test_delete_a_message_through_another_channel_deletes_nothing(api, room, unchanged):
    message = factories.make_message(channel_id=room.channel.id, author_id=room.alice)
    other = factories.make_channel(name="other", participant_ids=[room.alice])

    with unchanged():
        response = api.delete(f"channels/{other.id}/messages/{message.id}")
        assert_error(response, 404, "MESSAGE_NOT_FOUND")


def test_delete_an_unknown_message_is_not_found(api, room):
    assert_error(api.delete(f"{room.messages}/{new_id()}"), 404, "MESSAGE_NOT_FOUND")


@pytest.mark.parametrize(("prefix", "count"), [("channels", 1001), ("central-channels", 3)])
def test_clear_deletes_every_message_of_the_channel_only(api, room, prefix, count):
    """All of them in one call: the reference deletes the newest 1000 and leaves the rest."""
    other = factories.make_channel(name="other", participant_ids=[room.alice])
    survivor = factories.make_message(channel_id=other.id, author_id=room.alice)
    for _ in range(count):
        factories.make_message(channel_id=room.channel.id, author_id=room.alice)

    response = api.delete(f"{prefix}/{room.id}/messages")

    assert response.status_code == 204 and response.content == b""
    assert assert_ok(api.get(room.messages)) == {"messages": []}
    assert list(Message.objects.values_list("id", flat=True)) == [survivor.id]


def test_clear_an_unknown_channel_is_not_found(api):
    assert_error(api.delete(f"channels/{new_id()}/messages"), 404, "CHANNEL_NOT_FOUND")


# --- GET /message-servers/:id/channels ----------------------------------------------------------


@pytest.mark.parametrize("route", ["message-servers", "central-servers"])
def test_server_channels_lists_the_channels_of_that_server(api, room, route):
    server = factories.make_server()
    elsewhere = factories.make_channel(server_id=server.id, name="elsewhere")

    listed = assert_ok(api.get(f"{route}/{server.id}/channels"))["channels"]

    assert [channel["id"] for channel in listed] == [str(elsewhere.id)]
    assert set(listed[0]) == CHANNEL_KEYS
    default_ids = {c["id"] for c in assert_ok(api.get(f"{route}/{ZERO}/channels"))["channels"]}
    assert room.id in default_ids and str(elsewhere.id) not in default_ids


def test_server_channels_of_an_unknown_server_is_not_found(api):
    assert_error(api.get(f"message-servers/{new_id()}/channels"), 404, "SERVER_NOT_FOUND")


# --- GET /dm-channel ----------------------------------------------------------------------------


def test_dm_channel_is_created_once_and_symmetric(api):
    first, second = new_id(), new_id()

    created = assert_ok(api.get("dm-channel", currentUserId=first, targetUserId=second))
    again = assert_ok(api.get("dm-channel", currentUserId=first, targetUserId=second))
    mirrored = assert_ok(api.get("dm-channel", currentUserId=second, targetUserId=first))

    assert created == again == mirrored
    low, high = sorted([first, second])
    assert created["name"] == f"DM-{low}-{high}"
    assert created["type"] == "DM"
    assert created["messageServerId"] == ZERO
    assert created["metadata"] == {"user1": low, "user2": high}
    assert set(created) == CHANNEL_KEYS
    assert participants_of(created["id"]) == {uuid.UUID(first), uuid.UUID(second)}


def test_dm_channel_on_another_server(api):
    server = factories.make_server()
    query = {"currentUserId": new_id(), "targetUserId": new_id(), "dmServerId": str(server.id)}

    assert assert_ok(api.get("dm-channel", **query))["messageServerId"] == str(server.id)


def test_dm_channel_on_an_unknown_server_falls_back_to_the_default_server(api):
    query = {"currentUserId": new_id(), "targetUserId": new_id(), "dmServerId": new_id()}

    assert assert_ok(api.get("dm-channel", **query))["messageServerId"] == ZERO


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"targetUserId": "{a}"}, "VALIDATION_ERROR"),
        ({"currentUserId": "{a}"}, "VALIDATION_ERROR"),
        ({"currentUserId": "nope", "targetUserId": "{a}"}, "VALIDATION_ERROR"),
        ({"currentUserId": "{a}", "targetUserId": "{b}", "dmServerId": "x"}, "VALIDATION_ERROR"),
        ({"currentUserId": "{a}", "targetUserId": "{a}"}, "DM_WITH_SELF"),
    ],
)
def test_dm_channel_refuses_bad_queries(api, unchanged, query, code):
    ids = {"a": new_id(), "b": new_id()}
    with unchanged():
        response = api.get("dm-channel", **{k: v.format(**ids) for k, v in query.items()})
        assert_error(response, 400, code)


# --- POST /channels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "server_field"),
    [("channels", "message_server_id"), ("central-channels", "server_id")],
)
def test_create_group_channel(api, route, server_field):
    members = [new_id(), new_id()]
    body = {
        "name": "team",
        "participantCentralUserIds": members,
        server_field: ZERO,
        "metadata": {"purpose": "tests"},
        "type": "group",
    }

    created = assert_ok(api.post(route, body), 201)

    assert set(created) == CHANNEL_KEYS
    assert (created["name"], created["type"], created["messageServerId"]) == ("team", "GROUP", ZERO)
    assert created["metadata"] == {"purpose": "tests"}
    assert assert_ok(api.get(f"channels/{created['id']}/details")) == created
    assert participants_of(created["id"]) == {uuid.UUID(member) for member in members}


def test_create_channel_on_an_unknown_server_creates_nothing(api, unchanged):
    body = {"name": "x", "participantCentralUserIds": [new_id()], "message_server_id": new_id()}

    with unchanged():
        assert_error(api.post("channels", body), 404, "SERVER_NOT_FOUND")


MISSING = object()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", MISSING, "Invalid payload"),
        ("name", 5, "Invalid payload"),
        ("participantCentralUserIds", MISSING, "Invalid payload"),
        ("participantCentralUserIds", str(DEFAULT_SERVER_ID), "Invalid payload"),
        ("participantCentralUserIds", ["nope"], "Invalid payload"),
        ("participantCentralUserIds", [5], "Invalid payload"),
        ("message_server_id", "nope", "Invalid message_server_id format"),
        ("message_server_id", 0, "Invalid message_server_id format"),
        ("type", "PARTY", "Invalid payload"),
        ("metadata", [], "Invalid payload"),
    ],
)
def test_create_channel_refuses_bad_input(api, unchanged, field, value, message):
    body = {"name": "x", "participantCentralUserIds": [new_id()], "message_server_id": ZERO}
    if value is MISSING:
        del body[field]
    else:
        body[field] = value

    with unchanged():
        error = assert_error(api.post("channels", body), 400, "VALIDATION_ERROR")
    assert error["message"].startswith(message)


# --- PATCH, DELETE /channels/:id and GET /channels/:id/details ---------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_patch_renames_replaces_metadata_and_participants(api, prefix):
    old, kept, new = new_id(), new_id(), new_id()
    channel = factories.make_channel(
        participant_ids=[uuid.UUID(old), uuid.UUID(kept)], metadata={"a": 1, "b": 2}
    )
    body = {"name": "renamed", "metadata": {"c": 3}, "participantCentralUserIds": [kept, new]}

    patched = assert_ok(api.patch(f"{prefix}/{channel.id}", body))

    assert patched["name"] == "renamed"
    assert patched["metadata"] == {"c": 3}
    assert participants_of(channel.id) == {uuid.UUID(kept), uuid.UUID(new)}
    assert assert_ok(api.get(f"channels/{channel.id}/details")) == patched


def test_patch_leaves_what_is_not_given(api, room):
    factories.make_message(channel_id=room.channel.id, author_id=room.alice)

    patched = assert_ok(api.patch(f"channels/{room.id}", {"name": "renamed"}))

    assert patched["metadata"] == room.channel.metadata
    assert participants_of(room.id) == {room.alice, room.agent.pk}
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"metadata": "x"},
        {"metadata": [1]},
        {"participantCentralUserIds": ["nope"]},
        {"participantCentralUserIds": "x"},
        {"topic": False},
    ],
)
def test_patch_refuses_wrong_types(api, room, unchanged, body):
    with unchanged():
        assert_error(api.patch(f"channels/{room.id}", body), 400, "VALIDATION_ERROR")


def test_patch_an_unknown_channel_is_not_found(api, unchanged):
    with unchanged():
        assert_error(api.patch(f"channels/{new_id()}", {"name": "x"}), 404, "CHANNEL_NOT_FOUND")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_delete_channel_removes_its_messages_and_participants(api, room, prefix):
    factories.make_message(channel_id=room.channel.id, author_id=room.alice)

    response = api.delete(f"{prefix}/{room.id}")

    assert response.status_code == 204 and response.content == b""
    assert not Channel.objects.filter(id=room.channel.id).exists()
    assert not Message.objects.exists()
    assert not Participant.objects.filter(channel_id=room.channel.id).exists()
    assert_error(api.get(f"channels/{room.id}/details"), 404, "CHANNEL_NOT_FOUND")


def test_delete_an_unknown_channel_is_not_found(api):
    assert_error(api.delete(f"channels/{new_id()}"), 404, "CHANNEL_NOT_FOUND")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_channel_details(api, room, prefix):
    details = assert_ok(api.get(f"{prefix}/{room.id}/details"))

    assert set(details) == CHANNEL_KEYS
    assert details["id"] == room.id
    assert (details["name"], details["type"], details["messageServerId"]) == (
        "general",
        "GROUP",
        ZERO,
    )


@pytest.mark.parametrize("suffix", ["details", "participants", "agents"])
def test_reads_of_an_unknown_channel_are_not_found(api, suffix):
    assert_error(api.get(f"channels/{new_id()}/{suffix}"), 404, "CHANNEL_NOT_FOUND")


# --- participants and agents of a channel -------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_participants_is_a_bare_list_of_ids(api, room, prefix):
    assert assert_ok(api.get(f"{prefix}/{room.id}/participants")) == [
        str(room.alice),
        str(room.agent.pk),
    ]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_channel_agents_add_list_remove(api, room, prefix):
    agent = new_id()
    added = {
        "channelId": room.id,
        "agentId": agent,
        "message": "Agent added to channel successfully",
    }

    for _ in range(2):  # adding twice is idempotent
        assert assert_ok(api.post(f"{prefix}/{room.id}/agents", {"agentId": agent}), 201) == added
    listed = assert_ok(api.get(f"{prefix}/{room.id}/agents"))
    assert listed == {
        "channelId": room.id,
        "participants": [str(room.alice), str(room.agent.pk), agent],
    }
    removed = assert_ok(api.delete(f"{prefix}/{room.id}/agents/{agent}"))
    assert removed == {**added, "message": "Agent removed from channel successfully"}
    assert uuid.UUID(agent) not in participants_of(room.id)
    response = api.delete(f"{prefix}/{room.id}/agents/{agent}")
    assert_error(response, 404, "PARTICIPANT_NOT_FOUND")


@pytest.mark.parametrize("agent_id", ["nope", 5, None, ""])
def test_channel_agent_add_refuses_a_bad_agent_id(api, room, unchanged, agent_id):
    with unchanged():
        response = api.post(f"channels/{room.id}/agents", {"agentId": agent_id})
        error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Invalid channelId or agentId format"


def test_channel_agent_add_to_an_unknown_channel_is_not_found(api, unchanged):
    with unchanged():
        response = api.post(f"channels/{new_id()}/agents", {"agentId": new_id()})
        assert_error(response, 404, "CHANNEL_NOT_FOUND")


def test_channel_agent_remove_from_an_unknown_channel_is_not_found(api):
    response = api.delete(f"channels/{new_id()}/agents/{new_id()}")
    assert_error(response, 404, "CHANNEL_NOT_FOUND")
