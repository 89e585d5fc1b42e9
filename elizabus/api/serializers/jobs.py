"""Input of the jobs API, each check answering the reference's own words."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from elizabus import js
from elizabus.models import JobStatus
from elizabus.services.jobs import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS

from ..fields import (
    LimitedObjectField,
    LimitedTextField,
    StrictUUIDField,
)


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
    limit = js.parse_int(query.get("limit") or "")
    status = query.get("status")
    return {
        "limit": 50 if not limit or limit < 1 else min(limit, 500),
        "status": status if status in JobStatus.values else None,
    }
