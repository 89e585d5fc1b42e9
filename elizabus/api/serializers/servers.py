"""Input of the message-server routes."""

from __future__ import annotations

from rest_framework import serializers

from ..fields import (
    ObjectField,
    StrictCharField,
    StrictUUIDField,
)
from .channels import AgentIdIn


class ServerAgentIdIn(AgentIdIn):
    error_message = "Invalid messageServerId or agentId format"


class ServerCreateIn(serializers.Serializer):
    error_message = "Missing required fields: name, sourceType"
    name = StrictCharField(max_length=255)
    sourceType = StrictCharField(max_length=100)
    sourceId = StrictCharField(required=False, max_length=255, allow_blank=True)
    metadata = ObjectField(required=False)
    id = StrictUUIDField(required=False)
