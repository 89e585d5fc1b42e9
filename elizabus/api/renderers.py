"""JSON out of every API response, encoded by orjson, whatever the request accepts.

DRF's renderer encodes through the standard library's ``json``, which takes many times
orjson's time to encode a page of messages (bench/README.md). The output is DRF's byte for byte
(datetimes, decimals and lazy strings go through DRF's own encoder), except U+2028 and U+2029,
which DRF escapes and orjson writes as they are; both are valid JSON. What orjson cannot encode
(an integer beyond 64 bits, which a client may have stored in metadata) and a request for
indented output go to DRF's renderer as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from django.http import HttpResponse
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_default = JSONEncoder().default


class OrjsonRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is None:
            try:
                return orjson.dumps(data, default=_default, option=_OPTIONS)
            except orjson.JSONEncodeError:
                pass
        return super().render(data, accepted_media_type, renderer_context)


def json_response(data: Any, *, status: int) -> HttpResponse:
    """``data`` as a DRF view would answer it, without DRF's response machinery."""
    return HttpResponse(
        OrjsonRenderer().render(data), status=status, content_type="application/json"
    )


class AcceptAnything(DefaultContentNegotiation):
    """The renderer a request accepts, else the first: the reference never answers 406, so an
    ``Accept`` the API cannot render (the web UI's sessions chat asks ``text/event-stream``
    and names its transport in the body) gets what the route answers, as there."""

    # DRF passes a list (the stubs say any iterable): the first is taken by index.
    def select_renderer(  # type: ignore[override]
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
