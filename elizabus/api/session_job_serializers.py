"""Input of the sessions (SPEC B1.4) and jobs (B1.5) routers: bodies and queries, validated with
the reference's limits and, where its clients rely on them, its lenient readings of numbers
(JavaScript's ``Number`` and ``parseInt``). Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from elizabus.conf import app_settings
from elizabus.exceptions import InvalidInput, PayloadTooLarge
from elizabus.models import JobStatus
from elizabus.services.jobs import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS
from elizabus.services.sessions import TimeoutRequest

from .fields import ObjectField, StrictCharField, StrictUUIDField, check_content_size

_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")
# The dates Python can hold, in epoch ms (JavaScript's reach further; beyond these a bound
# matches everything or nothing either way).
_EARLIEST_MS = int(dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp() * 1000)
_LATEST_MS = int(dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp() * 1000)


def js_number(value: Any) -> float:
    """JavaScript's ``Number(value)`` for the numbers and strings a timeout may be sent as:
    ``"90"`` is 90, ``"0x10"`` 16, ``""`` 0, anything else not a number NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text:
        return 0.0
    if _HEX.match(text):
        return float(int(text, 16))
    if text in {"Infinity", "+Infinity", "-Infinity"}:
        return -math.inf if text.startswith("-") else math.inf
    return float(text) if _DECIMAL.match(text) else math.nan


def js_parse_int(value: str) -> int | None:
    """JavaScript's ``parseInt(value, 10)``: the leading integer (``"12abc"`` is 12), or None."""
    match = _LEADING_INT.match(value)
    return int(match.group(1)) if match else None


def epoch_ms_bound(value: str | None, name: str) -> dt.datetime | None:
    """A ``before``/``after`` query value, epoch ms read with ``parseInt``; not a number is 400."""
    if value is None or value == "":
        return None
    parsed = js_parse_int(value)
    if parsed is None:
        raise InvalidInput(
            f"Invalid pagination parameter '{name}': Must be a valid timestamp",
            details={"parameter": name, "reason": "Must be a valid timestamp"},
        )
    clamped = max(_EARLIEST_MS, min(_LATEST_MS, parsed))
    return dt.datetime.fromtimestamp(clamped / 1000, dt.UTC)


class LimitedObjectField(ObjectField):
    """A JSON object of at most ``setting`` bytes (a setting's name), 413 beyond."""

    def __init__(self, *, setting: str, **kwargs: Any) -> None:
        self.setting = setting
        super().__init__(**kwargs)

    def byte_limit(self) -> int:
        return int(getattr(app_settings, self.setting))


class LimitedTextField(StrictCharField):
    """Text of at most ``setting`` characters (a setting's name), 413 beyond, and at most the
    API's ``MAX_CONTENT_BYTES`` of UTF-8 (SPEC A6)."""

    def __init__(self, *, setting: str, **kwargs: Any) -> None:
        self.setting = setting
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        limit = int(getattr(app_settings, self.setting))
        if len(text) > limit:
            raise PayloadTooLarge(
                f"Content exceeds maximum length of {limit} characters", code="CONTENT_TOO_LARGE"
            )
        check_content_size(text)
        return text


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
            values[name] = js_number(data[key])
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
            raise PayloadTooLarge(f"attachments exceed {limit} bytes", code="ATTACHMENTS_TOO_LARGE")
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
    limit = js_parse_int(query.get("limit") or "")
    return {
        "limit": 50 if limit is None else max(1, min(100, limit)),
        "before": epoch_ms_bound(query.get("before"), "before"),
        "after": epoch_ms_bound(query.get("after"), "after"),
    }


# --- jobs ---------------------------------------------------------------------------------------
class JobCreateIn(serializers.Serializer):
    """``POST /jobs``; each check answers the reference's own words."""

    first_error_is_message = True
    agentId = StrictUUIDField(
        required=False,
        allow_null=True,
        error_messages={"invalid": "Invalid agentId format (must be valid UUID)"},
    )
    userId = StrictUUIDField(
        error_messages={
            "required": "userId is required and must be a valid UUID string",
            "null": "userId is required and must be a valid UUID string",
            "invalid": "Invalid userId format (must be valid UUID)",
        }
    )
    content = LimitedTextField(
        setting="JOB_MAX_CONTENT_CHARS",
        error_messages={
            "required": "content is required and must be a string",
            "null": "content is required and must be a string",
            "not_a_string": "content is required and must be a string",
            "blank": "content cannot be empty",
        },
    )
    metadata = LimitedObjectField(
        setting="JOB_MAX_METADATA_BYTES",
        required=False,
        error_messages={
            "null": "metadata must be an object",
            "not_an_object": "metadata must be an object",
        },
    )
    timeoutMs = serializers.JSONField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # The reference reads an empty agentId as none given.
        if data.get("agentId") == "":
            data = {key: value for key, value in data.items() if key != "agentId"}
        if "agentId" in data and not isinstance(data["agentId"], str | None):
            raise serializers.ValidationError({"agentId": ["agentId must be a valid UUID string"]})
        if not isinstance(data.get("userId"), str):
            message = "userId is required and must be a valid UUID string"
            raise serializers.ValidationError({"userId": [message]})
        return super().to_internal_value(data)

    def validate_timeoutMs(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise serializers.ValidationError("timeoutMs must be a positive number")
        if value < MIN_TIMEOUT_MS:
            raise serializers.ValidationError(f"timeoutMs must be at least {MIN_TIMEOUT_MS}ms")
        if value > MAX_TIMEOUT_MS:
            raise serializers.ValidationError(f"timeoutMs cannot exceed {MAX_TIMEOUT_MS}ms")
        return round(value)


def job_list_query(query: dict[str, str]) -> dict[str, Any]:
    """``limit`` as the reference reads it (``parseInt(limit) || 50``), at most 500; a
    ``status`` that is not a job status is ignored, as there."""
    limit = js_parse_int(query.get("limit") or "")
    status = query.get("status")
    return {
        "limit": 50 if not limit or limit < 1 else min(limit, 500),
        "status": status if status in JobStatus.values else None,
    }
