"""The agents API (``/api/agents``): register, configure, start, stop and inspect agents.

Shapes follow the elizaOS agents router where it has them (``POST /api/agents`` with
``{characterJson}`` answers 201 ``{success, data: {id, character}}``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors, services
from elizabus.api.envelope import no_content, ok, validated
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.agents import agent_data
from elizabus.api.representations.memory import world_data
from elizabus.api.serializers.agents import AgentCreateIn, AgentUpdateIn, CharacterIn
from elizabus.api.views.base import ENVELOPE, PUBLIC, ApiView, agent_or_404


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


# What a PATCH body holds beside the character's other fields: the agent's own fields, the
# character fields the update reads itself, and what the agent's representation shows that a
# client may send back unchanged.
NOT_CHARACTER_FIELDS = frozenset(
    {"id", "responder", "responderOptions", "characterJson", "character", "enabled", "status"}
    | {"createdAt", "updatedAt", "name", "bio", "system"}
)


def _character_at_top(body: Any) -> Any:
    """A PATCH body with its other character fields moved into ``characterJson``: the
    reference merges the whole body into the agent, and the elizaOS UI's settings form sends
    the fields it changed at the top (``{id, name, system, bio, settings, ...}``)."""
    if not isinstance(body, dict) or not isinstance(body.get("characterJson", {}), dict):
        return body
    extra = {key: value for key, value in body.items() if key not in NOT_CHARACTER_FIELDS}
    if not extra:
        return body
    return {**body, "characterJson": {**body.get("characterJson", {}), **extra}}


class AgentsApi(ApiView):
    """``GET /api/agents`` lists agents; ``POST /api/agents`` registers one."""

    access = {"GET": PUBLIC}

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
            hosted_outside=data["hostedOutside"],
            **_character_fields(character),
        )
        return ok(agent_data(agent), status.HTTP_201_CREATED)


class AgentApi(ApiView):
    """``GET|PATCH|DELETE /api/agents/:agentId``."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str) -> Response:
        return ok(agent_data(agent_or_404(agent_id)))

    @extend_schema(request=AgentUpdateIn, responses={200: ENVELOPE})
    def patch(self, request: Request, agent_id: str) -> Response:
        agent_uuid = parse_uuid(agent_id, "agentId")
        data = validated(AgentUpdateIn, _character_at_top(request.data))
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


class AgentPanelsApi(ApiView):
    """``GET /api/agents/:agentId/panels``: the agent's plugin pages (a bare list, as the
    reference's); elizabus agents have no plugins, so none."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description="`{success, data: []}`")})
    def get(self, request: Request, agent_id: str) -> Response:
        agent_or_404(agent_id)
        return ok([])


class AgentWorldsApi(ApiView):
    """``GET /api/agents/worlds``: the worlds of the first running agent, as the reference
    answers; an elizabus agent's worlds are the message servers it is subscribed to. Without a
    running agent the list is empty."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description="`{success, data: {worlds}}`")})
    def get(self, request: Request) -> Response:
        agent = selectors.agent_first_enabled()
        if agent is None:
            return ok({"worlds": []})
        servers = selectors.agent_servers(agent.entity_id)
        return ok({"worlds": [world_data(server, agent.entity_id) for server in servers]})
