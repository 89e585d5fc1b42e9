"""The ``{success, data}`` envelope, and input validation that raises the one error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers, status
from rest_framework.response import Response

from elizabus.exceptions import InvalidBody, InvalidInput


def ok(data: Any, status_code: int = status.HTTP_200_OK, **extra: Any) -> Response:
    return Response({"success": True, "data": data, **extra}, status=status_code)


def no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


def with_server_alias(data: Any) -> Any:
    """Bodies may say ``server_id`` (v1.0) for ``message_server_id``, as the reference accepts."""
    if isinstance(data, Mapping) and "message_server_id" not in data and "server_id" in data:
        return {**data, "message_server_id": data["server_id"]}
    return data


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validates ``data`` or raises InvalidInput with the serializer's ``error_message``."""
    if not isinstance(data, Mapping):
        raise InvalidBody()
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInput(
            _error_message(serializer_class, serializer.errors), details=serializer.errors
        )
    return dict(serializer.validated_data)


def _error_message(
    serializer_class: type[serializers.Serializer], errors: Mapping[str, Any]
) -> str:
    """The reference's wording: a field's own message (``field_messages``, e.g. ``Invalid
    messageId format``) when only such fields are wrong, else the serializer's general one.
    A serializer whose fields carry the reference's messages themselves (``first_error_is_message``,
    as the jobs router words each check) answers its first field's first error."""
    if getattr(serializer_class, "first_error_is_message", False) and errors:
        first = next(iter(errors.values()))
        while isinstance(first, list | dict) and first:
            first = first[0] if isinstance(first, list) else next(iter(first.values()))
        return str(first)
    field_messages: Mapping[str, str] = getattr(serializer_class, "field_messages", {})
    if errors and all(name in field_messages for name in errors):
        return field_messages[next(iter(errors))]
    return getattr(serializer_class, "error_message", "Invalid request")
