"""The body of ``POST /channels/:id/messages``, read and validated without DRF.

A busy server answers mostly message posts, and that route skips DRF's request machinery
(views/channels.py). Its input is defined once, here, as a msgspec struct: msgspec checks a post
in microseconds where a DRF serializer took a tenth of the post's CPU (bench/README.md). Every
other body goes through the serializers (serializers.py); both share the size and NUL checks of
fields.py, and errors keep the API's codes and the reference's messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import msgspec
from django.http import HttpRequest
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.utils.mediatypes import media_type_matches

from elizabus.exceptions import InvalidInput
from elizabus.ids import UUID_PATTERN

from .fields import ObjectField, RawMessageField, check_content_size, check_object_size, holds_nul

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
                check_object_size(name, value, field.byte_limit(), field.too_large_code)


def json_object(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, refused as DRF's JSON parser would (its exceptions, so the
    error handler words them): an empty body is an empty object."""
    body = request.body
    if not body:
        return {}
    if not media_type_matches(JSONParser.media_type, request.META.get("CONTENT_TYPE", "")):
        raise UnsupportedMediaType(request.META.get("CONTENT_TYPE", ""))
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        # ValidationError: a number beyond a double's range.
        raise ParseError(str(error)) from error
    if not isinstance(data, dict):
        raise InvalidInput("Request body must be a JSON object", code="INVALID_BODY")
    return data


def request_schema(input_type: type[msgspec.Struct]) -> dict[str, Any]:
    """``input_type`` as an OpenAPI 3.0 schema: msgspec writes JSON Schema, whose ``null``
    type OpenAPI 3.0 spells ``nullable``."""
    _, components = msgspec.json.schema_components([input_type])
    schema = components[input_type.__name__]
    schema.pop("title", None)
    for name, prop in schema["properties"].items():
        variants = prop.get("anyOf", [])
        if {"type": "null"} in variants:
            (only,) = (variant for variant in variants if variant != {"type": "null"})
            rest = {key: value for key, value in prop.items() if key != "anyOf"}
            schema["properties"][name] = {**only, **rest, "nullable": True}
    return schema
