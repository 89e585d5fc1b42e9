"""Serializer fields stricter than DRF's defaults, because elizaOS clients rely on the types."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from rest_framework import serializers

from elizabus import js
from elizabus.conf import app_settings
from elizabus.exceptions import (
    CharacterTooLarge,
    ContentTooLarge,
    InvalidId,
    InvalidInput,
    MetadataTooLarge,
    PayloadTooLarge,
    RawMessageTooLarge,
)
from elizabus.ids import is_uuid

# The dates Python can hold, in epoch ms (JavaScript's reach further; beyond these a bound
# matches everything or nothing either way).
_EARLIEST_MS = int(dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp() * 1000)
_LATEST_MS = int(dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp() * 1000)


def parse_uuid(value: Any, name: str) -> uuid.UUID:
    """``value`` as a UUID in the canonical 8-4-4-4-12 form (the reference's ``validateUuid``)."""
    if is_uuid(value):
        return uuid.UUID(value)
    raise InvalidId(f"Invalid {name}", details={name: "must be a UUID"})


class StrictUUIDField(serializers.UUIDField):
    def to_internal_value(self, data: Any) -> uuid.UUID:
        if isinstance(data, uuid.UUID):
            return data
        if not is_uuid(data):
            self.fail("invalid", value=data)
        return uuid.UUID(data)


class StrictCharField(serializers.CharField):
    """A string and nothing else: DRF would turn ``123`` or ``true`` into text."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class ContentField(StrictCharField):
    """Message text, at most ``MAX_CONTENT_BYTES`` of UTF-8 (413 beyond; docs/errors.md)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        check_content_size(text)
        return text


def check_content_size(text: str) -> None:
    """413 for message text over ``MAX_CONTENT_BYTES`` of UTF-8."""
    limit = app_settings.MAX_CONTENT_BYTES
    # A character is at most four bytes: most texts need no encoding to be counted.
    if len(text) > limit // 4 and len(text.encode()) > limit:
        raise ContentTooLarge(f"Message content exceeds {limit} bytes")


def check_object_size(
    name: str | None, value: Any, limit: int, error: type[PayloadTooLarge] = PayloadTooLarge
) -> None:
    """413 (``error``) for a JSON value over ``limit`` bytes, serialised compactly."""
    if len(json.dumps(value, separators=(",", ":"))) > limit:
        raise error(f"{name} exceeds {limit} bytes")


def holds_nul(value: Any) -> bool:
    """Whether a JSON value has a NUL character in any string or key: PostgreSQL's ``jsonb``
    cannot store one, and would refuse the whole write."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


class ObjectField(serializers.JSONField):
    """A JSON object (never a list or a scalar) without NUL characters, at most
    :meth:`byte_limit` bytes serialised."""

    default_error_messages = {
        "not_an_object": "Must be a JSON object.",
        "nul": "Null characters are not allowed.",
    }
    too_large: type[PayloadTooLarge] = MetadataTooLarge

    def byte_limit(self) -> int:
        return app_settings.MAX_METADATA_BYTES

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        check_object_size(self.field_name, data, self.byte_limit(), self.too_large)
        if holds_nul(data):
            self.fail("nul")
        return data


class RawMessageField(ObjectField):
    """``raw_message`` may carry the whole message text again, so it gets the content limit."""

    too_large: type[PayloadTooLarge] = RawMessageTooLarge

    def byte_limit(self) -> int:
        return app_settings.MAX_CONTENT_BYTES + app_settings.MAX_METADATA_BYTES


class CharacterField(ObjectField):
    """An elizaOS character file: bios, examples and knowledge make these large."""

    too_large = CharacterTooLarge

    def byte_limit(self) -> int:
        return app_settings.MAX_CHARACTER_BYTES


class MemoryContentField(RawMessageField):
    """A memory's ``content`` (``{text, ...}``): the message text and what came with it."""

    too_large = ContentTooLarge


class LimitedObjectField(ObjectField):
    """A JSON object of at most ``setting`` bytes (a setting's name), 413 beyond."""

    def __init__(self, *, setting: str, **kwargs: Any) -> None:
        self.setting = setting
        super().__init__(**kwargs)

    def byte_limit(self) -> int:
        return int(getattr(app_settings, self.setting))


class LimitedTextField(StrictCharField):
    """Text of at most ``setting`` characters (a setting's name), 413 beyond, and at most the
    API's ``MAX_CONTENT_BYTES`` of UTF-8."""

    def __init__(self, *, setting: str, **kwargs: Any) -> None:
        self.setting = setting
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        limit = int(getattr(app_settings, self.setting))
        if len(text) > limit:
            raise ContentTooLarge(f"Content exceeds maximum length of {limit} characters")
        check_content_size(text)
        return text


def epoch_ms_bound(value: str | None, name: str) -> dt.datetime | None:
    """A ``before``/``after`` query value, epoch ms read with ``parseInt``; not a number is 400."""
    if value is None or value == "":
        return None
    parsed = js.parse_int(value)
    if parsed is None:
        raise InvalidInput(
            f"Invalid pagination parameter '{name}': Must be a valid timestamp",
            details={"parameter": name, "reason": "Must be a valid timestamp"},
        )
    clamped = max(_EARLIEST_MS, min(_LATEST_MS, parsed))
    return dt.datetime.fromtimestamp(clamped / 1000, dt.UTC)
