"""Input of an agent's runs."""

from __future__ import annotations

from rest_framework import serializers

from elizabus import js
from elizabus.models import RunOutcome

from ..fields import (
    StrictUUIDField,
)

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
    to = serializers.IntegerField(required=False, min_value=0, max_value=js.EPOCH_MS_MAX)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.IntegerField(
            required=False, min_value=0, max_value=js.EPOCH_MS_MAX
        )
        return fields


class RunGetQuery(serializers.Serializer):
    error_message = "Invalid room ID format"
    roomId = StrictUUIDField(required=False)
