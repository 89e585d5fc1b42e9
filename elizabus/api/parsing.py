"""Request bodies as JSON: DRF's parser for the API's routes, and the same reading outside DRF,
with its OpenAPI description, for the routes that skip DRF's request machinery (the message
post). Both refuse a body nested deeper than ``MAX_JSON_DEPTH`` (``JSON_TOO_DEEP``) and, as
malformed, one holding a lone surrogate (elizabus/json_values.py says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import msgspec
from django.http import HttpRequest
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.utils.mediatypes import media_type_matches

from elizabus.exceptions import InvalidBody, InvalidText, JsonTooDeep
from elizabus.json_values import MAX_JSON_DEPTH, json_value_check, may_nest_deeper_than

TOO_DEEP = f"JSON is nested deeper than {MAX_JSON_DEPTH} levels"


class JsonParser(JSONParser):
    """DRF's JSON parser, refusing what the API could not store or answer."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise JsonTooDeep(TOO_DEEP) from None
        try:
            json_value_check(data)
        except InvalidText as error:
            raise ParseError(error.message) from None
        return data


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
        # ValidationError: a number beyond a double's range. msgspec refuses lone surrogates
        # itself, as malformed.
        raise ParseError(str(error)) from error
    except RecursionError:
        raise JsonTooDeep(TOO_DEEP) from None
    if not isinstance(data, dict):
        raise InvalidBody()
    if may_nest_deeper_than(body):
        json_value_check(data, text=False)
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
