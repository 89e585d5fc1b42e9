"""Input of the sessions API, with the reference's limits and its lenient readings of numbers
(JavaScript's ``Number`` and ``parseInt``)."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from elizabus import js
from elizabus.conf import app_settings
from elizabus.exceptions import AttachmentsTooLarge
from elizabus.services.sessions import TimeoutRequest

from ..fields import (
    LimitedObjectField,
    LimitedTextField,
    StrictUUIDField,
    epoch_ms_bound,
)

_MINUTES_SCHEMA = {"oneOf": [{"type": "number"}, {"type": "string"}]}


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "timeoutMinutes": _MINUTES_SCHEMA,
            "autoRenew": {"type": "boolean"},
            "maxDurationMinutes": _MINUTES_SCHEMA,
            "warningThresholdMinutes": _MINUTES_SCHEMA,
        },
    }
)
class TimeoutConfigField(serializers.Field):
    """A ``timeoutConfig``: minutes as numbers or numeric strings, ``autoRenew`` a boolean.
    Read into a :class:`~elizabus.services.sessions.TimeoutRequest`; a value that is no number
    becomes NaN, which the service replaces with the default (as the reference does)."""

    default_error_messages = {
        "invalid": "Invalid timeout configuration: Invalid timeout configuration format"
    }
    MINUTES = {
        "timeoutMinutes": "timeout_minutes",
        "maxDurationMinutes": "max_duration_minutes",
        "warningThresholdMinutes": "warning_threshold_minutes",
    }

    def to_internal_value(self, data: Any) -> TimeoutRequest:
        if not isinstance(data, dict):
            self.fail("invalid")
        values: dict[str, Any] = {}
        for key, name in self.MINUTES.items():
            if data.get(key) is None:
                continue
            if isinstance(data[key], bool) or not isinstance(data[key], int | float | str):
                self.fail("invalid")
            values[name] = js.to_number(data[key])
        if data.get("autoRenew") is not None:
            if not isinstance(data["autoRenew"], bool):
                self.fail("invalid")
            values["auto_renew"] = data["autoRenew"]
        return TimeoutRequest(**values)

    def to_representation(self, value: Any) -> Any:
        return value


class AttachmentsField(serializers.ListField):
    """A message's attachments (``[{type, url, name?, …}]``), at most the metadata limit."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.DictField(), max_length=100, **kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        items = super().to_internal_value(data)
        limit = app_settings.MAX_METADATA_BYTES
        if len(json.dumps(items, separators=(",", ":"))) > limit:
            raise AttachmentsTooLarge(f"attachments exceed {limit} bytes")
        return items


# --- sessions -----------------------------------------------------------------------------------
class SessionCreateIn(serializers.Serializer):
    error_message = "Missing required fields: agentId, userId"
    field_messages = {
        "agentId": "Invalid UUID format for field 'agentId'",
        "userId": "Invalid UUID format for field 'userId'",
        "timeoutConfig": "Invalid timeout configuration: Invalid timeout configuration format",
        "metadata": "Invalid metadata: Metadata must be an object",
    }
    agentId = StrictUUIDField()
    userId = StrictUUIDField()
    metadata = LimitedObjectField(
        setting="SESSION_MAX_METADATA_BYTES", required=False, allow_null=True
    )
    timeoutConfig = TimeoutConfigField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        # Both ids missing (or not strings) is one error, as the reference words it.
        if not all(isinstance(data.get(key), str) for key in ("agentId", "userId")):
            raise serializers.ValidationError({"ids": [self.error_message]})
        return super().to_internal_value(data)


class SessionMessageIn(serializers.Serializer):
    error_message = "Invalid content: Invalid message request format"
    field_messages = {
        "content": "Invalid content: Content must be a non-empty string",
        "metadata": "Invalid metadata: Metadata must be an object",
        "attachments": "Invalid content: attachments must be a list of objects",
    }
    content = LimitedTextField(setting="SESSION_MAX_CONTENT_CHARS")
    attachments = AttachmentsField(required=False, allow_null=True)
    metadata = LimitedObjectField(
        setting="SESSION_MAX_METADATA_BYTES", required=False, allow_null=True
    )
    transport = serializers.JSONField(required=False)
    mode = serializers.JSONField(required=False)


class SessionTimeoutIn(serializers.Serializer):
    """``PATCH /sessions/:id/timeout``: the body is itself the timeout configuration."""

    error_message = "Invalid timeout configuration: Invalid timeout configuration format"
    timeoutMinutes = serializers.JSONField(required=False)
    autoRenew = serializers.JSONField(required=False)
    maxDurationMinutes = serializers.JSONField(required=False)
    warningThresholdMinutes = serializers.JSONField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"timeout": TimeoutConfigField().to_internal_value(dict(self.initial_data))}


def session_messages_query(query: dict[str, str]) -> dict[str, Any]:
    """``limit`` read as the reference reads it (junk is 50, out of 1-100 clamped, never an
    error: its tests expect 200), ``before``/``after`` in epoch ms (junk is 400)."""
    limit = js.parse_int(query.get("limit") or "")
    return {
        "limit": 50 if limit is None else max(1, min(100, limit)),
        "before": epoch_ms_bound(query.get("before"), "before"),
        "after": epoch_ms_bound(query.get("after"), "after"),
    }
