"""The agents API (``/api/agents``): register, configure, start, stop and inspect agents.

Shapes follow the elizaOS agents router where it has them (``POST /api/agents`` with
``{characterJson}`` answers 201 ``{success, data: {id, character}}``, SPEC B10).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors, services
from elizabus.api.envelope import no_content, ok, validated
from elizabus.api.fields import parse_uuid
from elizabus.api.representations import agent_data, memory_data
from elizabus.api.serializers import AgentCreateIn, AgentUpdateIn, CharacterIn, MemoryListQuery
from elizabus.api.views.base import ApiView
from elizabus.exceptions import NotFound
from elizabus.models import Agent

ENVELOPE = OpenApiResponse(description="`{success: true, data}`")
PAGE = [
    OpenApiParameter("limit", int, description="1-500, default 50"),
    OpenApiParameter("before", int, description="epoch ms, exclusive"),
]


def _agent_or_404(agent_id: str) -> Agent:
    agent = selectors.agent_get(parse_uuid(agent_id, "agentId"))
    if agent is None:
        raise NotFound("Agent not found", code="AGENT_NOT_FOUND")
    return agent


def _character_fields(character: dict[str, Any]) -> dict[str, Any]:
    """The agent fields a character file sets; each present key only."""
    fields: dict[str, Any] = {}
    if "name" in character:
        fields["name"] = character["name"]
    if "bio" in character:
        fields["bio"] = character["bio"]
    if "system" in character:
        fields["system_prompt"] = character["system"]
    return fields


class AgentsApi(ApiView):
    """``GET /api/agents`` lists agents; ``POST /api/agents`` registers one."""

    @extend_schema(operation_id="agents_list", responses={200: ENVELOPE})
    def get(self, request: Request) -> Response:
        return ok({"agents": [agent_data(agent) for agent in selectors.agent_list()]})

    @extend_schema(request=AgentCreateIn, responses={201: ENVELOPE})
    def post(self, request: Request) -> Response:
        data = validated(AgentCreateIn, request.data)
        character = data["characterJson"]
        validated(CharacterIn, character)
        agent = services.agent_register(
            agent_id=parse_uuid(character["id"], "id") if "id" in character else None,
            character=character,
            responder=data.get("responder", ""),
            responder_options=data.get("responderOptions"),
            enabled=data["enabled"],
            **_character_fields(character),
        )
        return ok(agent_data(agent), status.HTTP_201_CREATED)


class AgentApi(ApiView):
    """``GET|PATCH|DELETE /api/agents/:agentId``."""

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str) -> Response:
        return ok(agent_data(_agent_or_404(agent_id)))

    @extend_schema(request=AgentUpdateIn, responses={200: ENVELOPE})
    def patch(self, request: Request, agent_id: str) -> Response:
        agent_uuid = parse_uuid(agent_id, "agentId")
        data = validated(AgentUpdateIn, request.data)
        character = data.get("characterJson") or {}
        if character:
            validated(CharacterIn, {"name": data.get("name", "unchanged"), **character})
        fields = {**_character_fields(character), **_character_fields(data)}
        agent = services.agent_update(
            agent_id=agent_uuid,
            responder=data.get("responder"),
            responder_options=data.get("responderOptions"),
            character=character or None,
            **fields,
        )
        return ok(agent_data(agent))

    @extend_schema(responses={204: OpenApiResponse(description="Deleted")})
    def delete(self, request: Request, agent_id: str) -> Response:
        services.agent_delete(agent_id=parse_uuid(agent_id, "agentId"))
        return no_content()


class AgentStartApi(ApiView):
    """``POST /api/agents/:agentId/start`` (also ``PUT``, as some elizaOS clients send)."""

    enabled = True

    @extend_schema(request=None, responses={200: ENVELOPE})
    def post(self, request: Request, agent_id: str) -> Response:
        agent = services.agent_set_enabled(
            agent_id=parse_uuid(agent_id, "agentId"), enabled=self.enabled
        )
        return ok(agent_data(agent))

    put = post


class AgentStopApi(AgentStartApi):
    """``POST /api/agents/:agentId/stop`` (also ``PUT``)."""

    enabled = False


class AgentMemoriesApi(ApiView):
    """``GET /api/agents/:agentId/memories`` and ``…/rooms/:roomId/memories``, newest first.

    A room is a channel: ``roomId`` is the channel id."""

    @extend_schema(parameters=PAGE, responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str, room_id: str | None = None) -> Response:
        agent = _agent_or_404(agent_id)
        channel_id = parse_uuid(room_id, "roomId") if room_id is not None else None
        query = validated(MemoryListQuery, request.query_params.dict())
        before = query.get("before")
        memories = selectors.memory_list(
            agent_id=agent.entity_id,
            channel_id=channel_id,
            limit=query["limit"],
            before=dt.datetime.fromtimestamp(before / 1000, dt.UTC) if before is not None else None,
        )
        return ok({"memories": [memory_data(memory) for memory in memories]})
