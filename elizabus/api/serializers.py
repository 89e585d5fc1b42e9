"""Input serializers: they validate request bodies and nothing else. Each carries the message
the reference answers when validation fails (``error_message``), with field details beside it.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from elizabus.logs import LEVELS
from elizabus.models import ChannelType, RunOutcome

from .fields import (
    CharacterField,
    ContentField,
    MemoryContentField,
    ObjectField,
    RawMessageField,
    StrictCharField,
    StrictUUIDField,
)

TRANSPORTS = {
    "http": "http",
    "sse": "sse",
    "websocket": "websocket",
    "sync": "http",
    "stream": "sse",
}


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


class ChannelCreateIn(serializers.Serializer):
    error_message = (
        "Invalid payload. Required: name, message_server_id (UUID), participantCentralUserIds "
        "(array of UUIDs). Optional: type, metadata."
    )
    field_messages = {"message_server_id": "Invalid message_server_id format"}
    name = StrictCharField(max_length=255)
    message_server_id = StrictUUIDField()
    participantCentralUserIds = serializers.ListField(child=StrictUUIDField(), max_length=1000)
    type = serializers.ChoiceField(choices=ChannelType.choices, required=False)
    metadata = ObjectField(required=False)
    topic = StrictCharField(required=False, max_length=1000, allow_blank=True)

    def to_internal_value(self, data: Any) -> Any:
        # Channel types arrive in either case from older builds (B5): store upper-case.
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            data = {**data, "type": data["type"].upper()}
        return super().to_internal_value(data)


class ChannelUpdateIn(serializers.Serializer):
    error_message = "Invalid channel update"
    name = StrictCharField(required=False, max_length=255)
    participantCentralUserIds = serializers.ListField(
        child=StrictUUIDField(), required=False, max_length=1000
    )
    metadata = ObjectField(required=False)
    topic = StrictCharField(required=False, max_length=1000, allow_blank=True)


class AgentIdIn(serializers.Serializer):
    error_message = "Invalid channelId or agentId format"
    agentId = StrictUUIDField()


class ServerAgentIdIn(AgentIdIn):
    error_message = "Invalid messageServerId or agentId format"


class ServerCreateIn(serializers.Serializer):
    error_message = "Missing required fields: name, sourceType"
    name = StrictCharField(max_length=255)
    sourceType = StrictCharField(max_length=100)
    sourceId = StrictCharField(required=False, max_length=255, allow_blank=True)
    metadata = ObjectField(required=False)
    id = StrictUUIDField(required=False)


class MessageListQuery(serializers.Serializer):
    error_message = "Invalid query: limit must be 1-500, before an epoch time in ms"
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    before = serializers.IntegerField(required=False, min_value=0, max_value=8_640_000_000_000_000)


class DmChannelQuery(serializers.Serializer):
    error_message = "Missing targetUserId or currentUserId"
    currentUserId = StrictUUIDField()
    targetUserId = StrictUUIDField()
    dmServerId = StrictUUIDField(required=False)


class CharacterIn(serializers.Serializer):
    """The elizaOS character file, as much of it as an elizabus agent uses; the rest is kept."""

    error_message = "Invalid character: a name is required"
    id = StrictUUIDField(required=False)
    name = StrictCharField(max_length=255)
    bio = serializers.JSONField(required=False)
    system = StrictCharField(required=False, allow_blank=True, max_length=20_000)

    def validate_bio(self, value: Any) -> Any:
        if isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(line, str) for line in value)
        ):
            return value
        raise serializers.ValidationError("Must be a string or a list of strings.")


class AgentCreateIn(serializers.Serializer):
    """The character comes as ``characterJson`` or, as the elizaOS UI's creator sends it, as
    ``agent``; the reference reads ``characterJson`` first."""

    error_message = "Invalid agent: characterJson with a name is required"
    characterJson = CharacterField(required=False)
    agent = CharacterField(required=False)
    responder = StrictCharField(required=False, max_length=255)
    responderOptions = ObjectField(required=False)
    enabled = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        character = attrs.pop("characterJson", None) or attrs.pop("agent", None)
        if not character:
            raise serializers.ValidationError("characterJson is required")
        return {**attrs, "characterJson": character}


class AgentUpdateIn(serializers.Serializer):
    error_message = "Invalid agent update"
    name = StrictCharField(required=False, max_length=255)
    bio = serializers.JSONField(required=False)
    system = StrictCharField(required=False, allow_blank=True, max_length=20_000)
    responder = StrictCharField(required=False, max_length=255)
    responderOptions = ObjectField(required=False)
    characterJson = CharacterField(required=False)


EPOCH_MS_MAX = 8_640_000_000_000_000  # JavaScript's latest Date


class MemoryListQuery(serializers.Serializer):
    error_message = "Invalid query: limit must be 1-500, before an epoch time in ms"
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    before = serializers.IntegerField(required=False, min_value=0, max_value=EPOCH_MS_MAX)
    # The reference's filters of an agent's memories: a channel (or its room, the same id in
    # elizabus) and a table, of which elizabus has one, "messages".
    channelId = StrictUUIDField(required=False)
    roomId = StrictUUIDField(required=False)
    tableName = StrictCharField(required=False, max_length=100)


class MemoryUpdateIn(serializers.Serializer):
    error_message = "Invalid memory update: content and metadata must be JSON objects"
    content = MemoryContentField(required=False)
    metadata = ObjectField(required=False)


class RoomCreateIn(serializers.Serializer):
    error_message = "Room name is required"
    name = StrictCharField(max_length=255)
    type = serializers.ChoiceField(
        choices=[kind.value for kind in ChannelType], required=False, default=ChannelType.GROUP
    )
    source = StrictCharField(required=False, max_length=100, default="client")
    messageServerId = StrictUUIDField(required=False)
    worldId = StrictUUIDField(required=False)
    metadata = ObjectField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # elizaOS clients send channel types in either case.
        kind = data.get("type") if hasattr(data, "get") else None
        if isinstance(kind, str):
            data = {**data, "type": kind.upper()}
        return super().to_internal_value(data)


class GroupCreateIn(serializers.Serializer):
    error_message = "agentIds must be a non-empty array"
    agentIds = serializers.ListField(child=StrictUUIDField(), min_length=1, max_length=100)
    name = StrictCharField(required=False, max_length=255)
    source = StrictCharField(required=False, max_length=100, default="client")
    metadata = ObjectField(required=False)


LOG_LEVEL_NAMES = [*LEVELS, "all"]


class LogListQuery(serializers.Serializer):
    """``GET /api/server/logs`` and ``/api/agents/:id/logs`` (``count`` is the latter's
    reference name for ``limit``)."""

    error_message = (
        "Invalid query: level must be a level name or all, since an epoch time in ms, limit 1-1000"
    )
    level = serializers.ChoiceField(choices=LOG_LEVEL_NAMES, required=False, default="all")
    agentName = StrictCharField(required=False, max_length=256)
    agentId = StrictUUIDField(required=False)
    since = serializers.IntegerField(required=False, min_value=0, max_value=EPOCH_MS_MAX)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    count = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    def to_internal_value(self, data: Any) -> Any:
        level = data.get("level") if hasattr(data, "get") else None
        if isinstance(level, str):
            # The reference reads an empty level as "all": the UI's Logs page sends
            # ``level=`` for its "all" choice.
            data = {**data, "level": level.lower() or "all"}
        return super().to_internal_value(data)


RUN_STATUSES = ["started", "completed", "timeout", "error", "all"]


class RunListQuery(serializers.Serializer):
    """``GET /api/agents/:id/runs``: the reference's filters, and ``outcome``, elizabus's own."""

    error_message = (
        "Invalid query: roomId must be a UUID, status one of started, completed, timeout, "
        "error, all, limit 1-100, from and to epoch times in ms"
    )
    roomId = StrictUUIDField(required=False)
    status = serializers.ChoiceField(choices=RUN_STATUSES, required=False, default="all")
    outcome = serializers.ChoiceField(choices=RunOutcome.choices, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)
    # ``from`` is a keyword: the field is declared under its wire name below.
    to = serializers.IntegerField(required=False, min_value=0, max_value=EPOCH_MS_MAX)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.IntegerField(
            required=False, min_value=0, max_value=EPOCH_MS_MAX
        )
        return fields


class RunGetQuery(serializers.Serializer):
    error_message = "Invalid room ID format"
    roomId = StrictUUIDField(required=False)
