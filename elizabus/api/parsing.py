"""Request bodies read outside DRF, as DRF's JSON parser would read them, and their OpenAPI
description: for the routes that skip DRF's request machinery (the message post).
"""

from __future__ import annotations

from typing import Any

import msgspec
from django.http import HttpRequest
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.utils.mediatypes import media_type_matches

from elizabus.exceptions import InvalidBody


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
        raise InvalidBody()
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
