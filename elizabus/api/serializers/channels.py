"""Input of the channel routes: the message post's msgspec body, and the serializers of the
others."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import msgspec
from rest_framework import serializers

from elizabus import js
from elizabus.exceptions import InvalidInput
from elizabus.ids import UUID_PATTERN
from elizabus.models import ChannelType

from ..fields import (
    ObjectField,
    RawMessageField,
    StrictCharField,
    StrictUUIDField,
    check_content_size,
    check_object_size,
    holds_nul,
)

# The canonical form only, as the reference's validateUuid: the length bounds keep ``$`` from
# admitting a trailing newline.
UuidText = Annotated[
    str,
    msgspec.Meta(
        pattern=f"^{UUID_PATTERN.pattern}$",
        min_length=36,
        max_length=36,
        extra_json_schema={"format": "uuid"},
    ),
]


# The serializers' fields, for their limits and codes (each limit read when asked, from the
# settings).
_OBJECT_FIELDS = {"raw_message": RawMessageField(), "metadata": ObjectField()}


class ChannelMessageIn(msgspec.Struct):
    error_message: ClassVar[str] = (
        "Missing required fields: channelId, message_server_id, author_id, content"
    )

    author_id: UuidText
    content: Annotated[str, msgspec.Meta(min_length=1)]
    message_server_id: UuidText
    in_reply_to_message_id: UuidText | None = None
    raw_message: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    source_type: Annotated[str, msgspec.Meta(max_length=100)] = ""
    # Checked by exchange.parse_transport, which words the reference's own errors.
    transport: Any = None
    mode: Any = None

    def __post_init__(self) -> None:
        # msgspec answers these ValueErrors as validation errors.
        if "\x00" in self.content or "\x00" in self.source_type:
            raise ValueError("Null characters are not allowed.")
        if holds_nul(self.raw_message) or holds_nul(self.metadata):
            raise ValueError("Null characters are not allowed.")

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ChannelMessageIn:
        """``body`` validated, or its 413, or its 400 with the reference's message. A 413
        comes before any 400, as the serializers answer: their size checks raise at once while
        their other checks are collected."""
        cls._check_sizes(body)
        try:
            return msgspec.convert(body, cls)
        except msgspec.ValidationError as error:
            raise InvalidInput(cls.error_message, details={"body": str(error)}) from error

    @staticmethod
    def _check_sizes(body: Mapping[str, Any]) -> None:
        if isinstance(content := body.get("content"), str):
            check_content_size(content)
        for name, field in _OBJECT_FIELDS.items():
            if isinstance(value := body.get(name), dict):
                check_object_size(name, value, field.byte_limit(), field.too_large)


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
        # Channel types arrive in either case from older elizaOS builds: store upper-case.
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


class MessageListQuery(serializers.Serializer):
    error_message = "Invalid query: limit must be 1-500, before an epoch time in ms"
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    before = serializers.IntegerField(required=False, min_value=0, max_value=js.EPOCH_MS_MAX)


class DmChannelQuery(serializers.Serializer):
    error_message = "Missing targetUserId or currentUserId"
    currentUserId = StrictUUIDField()
    targetUserId = StrictUUIDField()
    dmServerId = StrictUUIDField(required=False)
