"""The core router, as the reference answers it: ``/submit``, ``/action``, ``PATCH /action/:id``,
``/ingest-external`` and ``/complete``."""

from __future__ import annotations

import uuid

import pytest

from elizabus.bus.events import MessageComplete
from elizabus.models import Entity, Message
from tests import factories

from .helpers import ZERO, assert_error, assert_ok, new_id

MESSAGE_KEYS = {
    "id",
    "channelId",
    "authorId",
    "content",
    "rawMessage",
    "sourceType",
    "metadata",
    "inReplyToRootMessageId",
    "createdAt",
    "updatedAt",
    "created_at",
    "updated_at",
    "seq",
}
SUBMIT_FAILURE = (
    "Missing required fields: channel_id, message_server_id, author_id, content, source_type, "
    "raw_message"
)
MISSING = object()


def reply_body(room, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "channel_id": room.id,
        "message_server_id": ZERO,
        "author_id": str(room.agent.pk),
        "content": "How do you do?",
        "source_type": "agent_response",
        "raw_message": {"text": "How do you do?", "thought": "greet", "actions": ["REPLY"]},
        "metadata": {"agentName": "Eliza"},
    }
    for key, value in fields.items():
        if value is MISSING:
            del body[key]
        else:
            body[key] = value
    return body


# --- POST /submit and POST /action --------------------------------------------------------------


@pytest.mark.parametrize("route", ["submit", "action"])
def test_agent_reply_is_stored_and_answered_as_the_message(api, room, route):
    message_id = new_id()
    reply = assert_ok(api.post(route, reply_body(room, messageId=message_id)), 201)

    assert set(reply) == MESSAGE_KEYS
    assert reply["id"] == message_id
    assert (reply["channelId"], reply["authorId"]) == (room.id, str(room.agent.pk))
    assert reply["content"] == "How do you do?"
    assert reply["sourceType"] == "agent_response"
    assert reply["rawMessage"]["thought"] == "greet"
    assert reply["metadata"] == {"agentName": "Eliza"}  # as stored, unlike the listing
    stored = Message.objects.get()
    assert str(stored.id) == message_id and stored.channel_id == room.channel.id


def test_submit_accepts_server_id_and_a_null_message_id(api, room):
    body = reply_body(room, message_server_id=MISSING, server_id=ZERO, messageId=None)

    reply = assert_ok(api.post("submit", body), 201)

    assert uuid.UUID(reply["id"]) == Message.objects.get().id


def test_submit_in_reply_to_keeps_the_link(api, room):
    asked = factories.make_message(channel_id=room.channel.id, author_id=room.alice)

    reply = assert_ok(
        api.post("submit", reply_body(room, in_reply_to_message_id=str(asked.id))), 201
    )

    assert reply["inReplyToRootMessageId"] == str(asked.id)


def test_submit_twice_with_the_same_message_id_is_idempotent(api, room):
    body = reply_body(room, messageId=new_id())

    first = assert_ok(api.post("submit", body), 201)
    second = assert_ok(api.post("submit", body), 201)

    assert first == second
    assert Message.objects.count() == 1


def test_submit_a_different_message_under_a_taken_id_is_a_conflict(api, room, unchanged):
    message_id = new_id()
    assert_ok(api.post("submit", reply_body(room, messageId=message_id)), 201)

    with unchanged():
        response = api.post("submit", reply_body(room, messageId=message_id, content="Other"))
        assert_error(response, 409, "DUPLICATE_MESSAGE_ID")
    assert Message.objects.get().content == "How do you do?"


@pytest.mark.parametrize(
    "missing", ["channel_id", "message_server_id", "author_id", "content", "source_type"]
)
@pytest.mark.parametrize("route", ["submit", "action"])
def test_submit_without_a_required_field_is_refused(api, room, unchanged, route, missing):
    with unchanged():
        response = api.post(route, reply_body(room, **{missing: MISSING}))
        error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == SUBMIT_FAILURE


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("raw_message", MISSING, SUBMIT_FAILURE),
        ("raw_message", None, SUBMIT_FAILURE),
        ("raw_message", "text", SUBMIT_FAILURE),
        ("content", "", SUBMIT_FAILURE),
        ("content", 42, SUBMIT_FAILURE),
        ("content", False, SUBMIT_FAILURE),
        ("source_type", 1, SUBMIT_FAILURE),
        ("author_id", "agent", SUBMIT_FAILURE),
        ("channel_id", 7, SUBMIT_FAILURE),
        ("metadata", ["agentName"], SUBMIT_FAILURE),
        ("messageId", "m-1", "Invalid messageId format"),
        ("messageId", 1, "Invalid messageId format"),
        ("in_reply_to_message_id", "m-0", "Invalid in_reply_to_message_id format"),
    ],
)
def test_submit_with_a_bad_field_is_refused(api, room, unchanged, field, value, message):
    with unchanged():
        response = api.post("submit", reply_body(room, **{field: value}))
        error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == message


@pytest.mark.parametrize("route", ["submit", "action", "ingest-external"])
def test_message_to_an_unknown_channel_leaves_nothing_behind(api, room, unchanged, route):
    """No message, no channel and no entity for its unknown author."""
    author = new_id()
    body = reply_body(room, channel_id=new_id(), author_id=author)

    with unchanged():
        assert_error(api.post(route, body), 404, "CHANNEL_NOT_FOUND")
    assert not Entity.objects.filter(id=author).exists()


@pytest.mark.parametrize("route", ["submit", "action", "ingest-external"])
def test_message_naming_another_server_is_refused(api, room, unchanged, route):
    server = factories.make_server()

    with unchanged():
        response = api.post(route, reply_body(room, message_server_id=str(server.id)))
        assert_error(response, 400, "SERVER_MISMATCH")


# --- PATCH /action/:id --------------------------------------------------------------------------


def test_patch_action_changes_only_the_given_fields(api, room):
    action = assert_ok(api.post("action", reply_body(room)), 201)

    body = {"content": "Executing action: REPLY", "metadata": {"status": "done"}}
    patched = assert_ok(api.patch(f"action/{action['id']}", body))

    assert patched["id"] == action["id"]
    assert patched["content"] == "Executing action: REPLY"
    assert patched["metadata"] == {"status": "done"}
    assert patched["rawMessage"] == action["rawMessage"]
    assert patched["sourceType"] == action["sourceType"]
    assert patched["authorId"] == action["authorId"]
    assert Message.objects.get().content == "Executing action: REPLY"


def test_patch_action_can_change_the_author(api, room):
    action = assert_ok(api.post("action", reply_body(room)), 201)

    patched = assert_ok(api.patch(f"action/{action['id']}", {"author_id": str(room.alice)}))

    assert patched["authorId"] == str(room.alice)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"author_id": "someone"}, "Invalid author_id format"),
        ({"content": 5}, "Invalid action update"),
        ({"raw_message": "text"}, "Invalid action update"),
        ({"metadata": [1]}, "Invalid action update"),
        ({"in_reply_to_message_id": "x"}, "Invalid action update"),
    ],
)
def test_patch_action_refuses_bad_fields(api, room, unchanged, body, message):
    action = factories.make_message(channel_id=room.channel.id, author_id=room.agent.pk)

    with unchanged():
        error = assert_error(api.patch(f"action/{action.id}", body), 400, "VALIDATION_ERROR")
    assert error["message"] == message


def test_patch_an_unknown_action_is_not_found(api):
    error = assert_error(api.patch(f"action/{new_id()}", {"content": "x"}), 404)
    assert error["message"] == "Message not found"


# --- POST /ingest-external ----------------------------------------------------------------------


def test_ingest_external_stores_the_connector_message(api, room):
    author = new_id()
    body = {
        "channel_id": room.id,
        "server_id": ZERO,
        "author_id": author,
        "content": "from discord",
        "raw_message": {"discord": True},
        "source_id": "discord-123",
        "source_type": "discord",
        "author_display_name": "Bob",
        "metadata": {"guild": "g"},
    }

    response = api.post("ingest-external", body)

    assert response.status_code == 202
    stored = Message.objects.get()
    assert response.json() == {
        "success": True,
        "message": "Message ingested and published to bus",
        "data": {"messageId": str(stored.id)},
    }
    assert (stored.content, stored.source_id, stored.source_type) == (
        "from discord",
        "discord-123",
        "discord",
    )
    assert stored.author.display_name == "Bob"


@pytest.mark.parametrize(
    "body",
    [{}, {"content": "x"}, {"channel_id": "x", "message_server_id": ZERO, "author_id": "y"}],
)
def test_ingest_external_refuses_an_invalid_payload(api, unchanged, body):
    with unchanged():
        error = assert_error(api.post("ingest-external", body), 400, "VALIDATION_ERROR")
    assert error["message"] == "Invalid external message payload"


# --- POST /complete -----------------------------------------------------------------------------


@pytest.mark.parametrize("server_field", ["server_id", "message_server_id"])
def test_complete_announces_the_end_of_processing(
    api, room, published, django_capture_on_commit_callbacks, server_field
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("complete", {"channel_id": room.id, server_field: ZERO})

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Completion event emitted"}
    assert published.of(MessageComplete) == [
        MessageComplete(channel_id=room.id, message_server_id=ZERO, agent_id="", message_id="")
    ]


@pytest.mark.parametrize(
    "body",
    [{}, {"channel_id": "x", "server_id": ZERO}, {"channel_id": new_id(), "server_id": 0}],
)
def test_complete_refuses_missing_or_invalid_ids(api, body):
    error = assert_error(api.post("complete", body), 400, "VALIDATION_ERROR")
    assert error["message"] == "Missing or invalid fields: channel_id, server_id"
