"""The base class of every API view, the schema inspector it carries, the responses every view
documents, and the lookups of a path id that answer 400 or 404.

Path ids are declared as ``str`` in the URLs so that a malformed id reaches the view and gets the
reference's 400 ``Invalid <name>`` rather than the catch-all 404; the schema still documents them
as the UUIDs they must be, so clients and fuzzers see the real contract.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBase
from django.template.response import SimpleTemplateResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from elizabus import access, selectors
from elizabus.access import OPERATOR, Actor
from elizabus.api.fields import parse_uuid
from elizabus.exceptions import AgentNotFound, ChannelNotFound, MissingToken, ServerNotFound
from elizabus.models import Agent, Channel, MessageServer

ENVELOPE = OpenApiResponse(description="`{success: true, data}`")
NO_CONTENT = OpenApiResponse(description="Done; empty body")


def agent_or_404(agent_id: str) -> Agent:
    """The agent of a path id: 400 ``INVALID_ID`` unless a UUID, 404 unless registered."""
    agent = selectors.agent_get(parse_uuid(agent_id, "agentId"))
    if agent is None:
        raise AgentNotFound()
    return agent


def channel_or_404(channel_id: str) -> Channel:
    """The channel of a path id: 400 ``INVALID_ID`` unless a UUID, 404 unless it exists."""
    channel = selectors.channel_get(parse_uuid(channel_id, "channelId"))
    if channel is None:
        raise ChannelNotFound()
    return channel


def server_or_404(server_id: str) -> MessageServer:
    """The message server of a path id: 400 ``INVALID_ID`` unless a UUID, 404 unless it exists."""
    server = selectors.server_get(parse_uuid(server_id, "messageServerId"))
    if server is None:
        raise ServerNotFound()
    return server


# --- Access: what a request's entity may do with data isolation (docs/security.md, "Access") ---
# A view's ``access`` maps each method to one of these; a method it does not name is the
# operator's alone, so a route added without a rule is closed, not open.
PUBLIC = "public"  # any caller with a valid token
OWN = "own"  # the view itself checks the entity (an author, a user, a list filtered)
CHANNEL = "channel"  # a participant of the path's channel
MANAGE = "manage"  # who may manage the path's channel (access.may_manage)
MESSAGE = "message"  # the path's message's author, or who may manage its channel
AGENT = "agent"  # the path's agent itself
OPERATOR_ONLY = "operator"


def actor_of(request: Any) -> Actor:
    """The actor a request acts as: the operator without isolation; with it, what the guard
    middleware found (the operator's key or a token's entity)."""
    if not access.isolation_enabled():
        return OPERATOR
    actor = getattr(request, "actor", None)
    if actor is None:
        raise MissingToken("JWT token required for data isolation")
    return actor


def with_actor_default(request: Any, data: Any, field: str) -> Any:
    """A body whose ``field`` (an author, a user) defaults to the token's entity with data
    isolation, so that a client may leave it out."""
    if not access.isolation_enabled() or not isinstance(data, dict) or field in data:
        return data
    actor = actor_of(request)
    return data if actor.operator else {**data, field: str(actor.entity_id)}


def enforce_access(view: Any, request: Any, kwargs: dict[str, Any]) -> None:
    """Applies the view's rule for the request's method (see the constants above)."""
    if not access.isolation_enabled() or request.method == "OPTIONS":
        return
    method = "GET" if request.method == "HEAD" else request.method
    rule = getattr(view, "access", {}).get(method, OPERATOR_ONLY)
    if rule in (PUBLIC, OWN):
        # The guard middleware asked for a token already (but on the auth routes, which judge
        # their own); an OWN view asks for the actor itself.
        return
    actor = actor_of(request)
    if actor.operator:
        return
    if rule == CHANNEL:
        access.require_participant(actor, parse_uuid(kwargs["channel_id"], "channelId"))
    elif rule == MANAGE:
        channel_id = parse_uuid(kwargs["channel_id"], "channelId")
        access.require_participant(actor, channel_id)
        access.require_manager(actor, channel_id)
    elif rule == MESSAGE:
        access.require_message_deleter(
            actor,
            parse_uuid(kwargs["channel_id"], "channelId"),
            parse_uuid(kwargs["message_id"], "messageId"),
        )
    elif rule == AGENT:
        access.require_self_or_operator(actor, parse_uuid(kwargs["agent_id"], "agentId"))
    else:
        access.require_operator(actor)


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
    access: dict[str, str] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        enforce_access(self, request, kwargs)

    # DRF's stubs say a Response in and out; any HttpResponseBase passes through, and a plain
    # HttpResponse comes out.
    def finalize_response(  # type: ignore[override]
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """Renders the response here, in the view's thread, and hands Django a plain
        ``HttpResponse``. Django's async handler renders a response that can still render
        through one more hop to the sync thread, and with the view's own hop, thread hops were
        a large share of a message post's CPU (bench/README.md)."""
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[arg-type]
        if not isinstance(response, SimpleTemplateResponse):
            return response
        response.render()
        plain = HttpResponse(response.content, status=response.status_code)
        for header, value in response.items():
            plain[header] = value
        plain.cookies = response.cookies
        exchange = getattr(response, "agent_exchange", None)
        if exchange is not None:
            plain.agent_exchange = exchange  # type: ignore[attr-defined]
        return plain
