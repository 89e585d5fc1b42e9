"""Input of the agents API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..fields import (
    CharacterField,
    ObjectField,
    StrictCharField,
    StrictUUIDField,
)


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
    hostedOutside = serializers.BooleanField(required=False, default=False)

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
