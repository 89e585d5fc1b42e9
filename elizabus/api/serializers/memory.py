"""Input of the memory API: agents' memories, rooms and groups."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from elizabus import js
from elizabus.models import ChannelType

from ..fields import (
    MemoryContentField,
    ObjectField,
    StrictCharField,
    StrictUUIDField,
)


class MemoryListQuery(serializers.Serializer):
    error_message = "Invalid query: limit must be 1-500, before an epoch time in ms"
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    before = serializers.IntegerField(required=False, min_value=0, max_value=js.EPOCH_MS_MAX)
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
    # DRF's metaclass takes a declared field off the class: it shadows no ``Field.source``.
    source = StrictCharField(required=False, max_length=100, default="client")  # type: ignore[assignment]
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
    # DRF's metaclass takes a declared field off the class: it shadows no ``Field.source``.
    source = StrictCharField(required=False, max_length=100, default="client")  # type: ignore[assignment]
    metadata = ObjectField(required=False)
