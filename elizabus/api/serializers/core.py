"""Input of the core routes (``/submit``, ``/action``, ``/ingest-external``, ``/complete``)."""

from __future__ import annotations

from rest_framework import serializers

from ..fields import (
    ContentField,
    ObjectField,
    RawMessageField,
    StrictCharField,
    StrictUUIDField,
)


class SubmitIn(serializers.Serializer):
    error_message = (
        "Missing required fields: channel_id, message_server_id, author_id, content, "
        "source_type, raw_message"
    )
    field_messages = {
        "messageId": "Invalid messageId format",
        "in_reply_to_message_id": "Invalid in_reply_to_message_id format",
    }
    # Optional fields may be sent as null, which the reference reads as "not given".
    messageId = StrictUUIDField(required=False, allow_null=True)
    channel_id = StrictUUIDField()
    message_server_id = StrictUUIDField()
    author_id = StrictUUIDField()
    content = ContentField()
    in_reply_to_message_id = StrictUUIDField(required=False, allow_null=True)
    source_type = StrictCharField(max_length=100)
    raw_message = RawMessageField()
    metadata = ObjectField(required=False, allow_null=True)


class ActionUpdateIn(serializers.Serializer):
    error_message = "Invalid action update"
    field_messages = {"author_id": "Invalid author_id format"}
    content = ContentField(required=False, allow_blank=True)
    raw_message = RawMessageField(required=False)
    source_type = StrictCharField(required=False, max_length=100)
    in_reply_to_message_id = StrictUUIDField(required=False, allow_null=True)
    metadata = ObjectField(required=False)
    author_id = StrictUUIDField(required=False)
    server_message_id = StrictUUIDField(required=False)


class IngestExternalIn(serializers.Serializer):
    error_message = "Invalid external message payload"
    channel_id = StrictUUIDField()
    message_server_id = StrictUUIDField()
    author_id = StrictUUIDField()
    content = ContentField()
    raw_message = RawMessageField(required=False, allow_null=True)
    source_id = StrictCharField(required=False, max_length=255, allow_blank=True)
    source_type = StrictCharField(required=False, max_length=100, allow_blank=True)
    in_reply_to_message_id = StrictUUIDField(required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True)
    author_display_name = StrictCharField(required=False, max_length=255, allow_blank=True)


class CompleteIn(serializers.Serializer):
    error_message = "Missing or invalid fields: channel_id, server_id"
    channel_id = StrictUUIDField()
    message_server_id = StrictUUIDField()
