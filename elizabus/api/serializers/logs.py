"""Input of the log routes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from elizabus import js
from elizabus.logs import LEVELS

from ..fields import (
    StrictCharField,
    StrictUUIDField,
)

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
    since = serializers.IntegerField(required=False, min_value=0, max_value=js.EPOCH_MS_MAX)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    count = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    def to_internal_value(self, data: Any) -> Any:
        level = data.get("level") if hasattr(data, "get") else None
        if isinstance(level, str):
            # The reference reads an empty level as "all": the UI's Logs page sends
            # ``level=`` for its "all" choice.
            data = {**data, "level": level.lower() or "all"}
        return super().to_internal_value(data)
