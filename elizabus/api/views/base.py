"""The base class of every API view, and the schema inspector it carries.

Path ids are declared as ``str`` in the URLs so that a malformed id reaches the view and gets the
reference's 400 ``Invalid <name>`` rather than the catch-all 404; the schema still documents them
as the UUIDs they must be, so clients and fuzzers see the real contract.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBase
from django.template.response import SimpleTemplateResponse
from drf_spectacular.openapi import AutoSchema
from rest_framework.request import Request
from rest_framework.views import APIView


class UuidPathAutoSchema(AutoSchema):
    """Documents every ``<name>_id`` path parameter as ``{type: string, format: uuid}``, and
    names operations so that a collection and its items never share an operation id."""

    def get_operation_id(self) -> str:
        # Plain APIViews give no list/detail distinction: without the trailing id,
        # ``DELETE /channels/{channel_id}/messages`` (clear) and ``.../messages/{message_id}``
        # would both be ``..._messages_destroy``.
        tokens = [token.replace("-", "_") for token in self._tokenize_path()] or ["root"]
        last = self.path.rstrip("/").rsplit("/", 1)[-1]
        if last.startswith("{"):
            tokens.append(last.strip("{}").removesuffix("_id"))
        return "_".join([*tokens, self.method_mapping[self.method.lower()]])

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"].endswith("_id"):
                parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameters


class ApiView(APIView):
    schema = UuidPathAutoSchema()

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """Renders the response here, in the view's thread, and hands Django a plain
        ``HttpResponse``. Django's async handler renders a response that can still render
        through one more hop to the sync thread; with the view's own hop, thread hops were a
        fifth of a message post's CPU."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if not isinstance(response, SimpleTemplateResponse):
            return response
        response.render()
        plain = HttpResponse(response.content, status=response.status_code)
        for header, value in response.items():
            plain[header] = value
        plain.cookies = response.cookies
        exchange = getattr(response, "agent_exchange", None)
        if exchange is not None:
            plain.agent_exchange = exchange
        return plain
