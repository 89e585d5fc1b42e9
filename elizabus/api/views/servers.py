"""The message servers router, as the reference's: servers and agents' subscriptions to them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors, services
from elizabus.api.envelope import ok, validated
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.servers import server_data
from elizabus.api.serializers.servers import ServerAgentIdIn, ServerCreateIn
from elizabus.api.views.base import ENVELOPE, PUBLIC, ApiView, server_or_404
from elizabus.exceptions import NotSubscribed
from elizabus.models import DEFAULT_SERVER_ID


class CurrentServerApi(ApiView):
    """``GET /message-server/current``."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request) -> Response:
        return ok({"messageServerId": str(DEFAULT_SERVER_ID)})


class ServersApi(ApiView):
    """``GET /message-servers`` lists; ``POST /message-servers`` (alias ``/servers``) creates.

    ``data_key`` is ``servers`` on the deprecated ``GET /central-servers``.
    """

    access = {"GET": PUBLIC}

    data_key = "messageServers"

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request) -> Response:
        return ok({self.data_key: [server_data(server) for server in selectors.server_list()]})

    @extend_schema(request=ServerCreateIn, responses={201: ENVELOPE})
    def post(self, request: Request) -> Response:
        data = validated(ServerCreateIn, request.data)
        server = services.server_create(
            name=data["name"],
            source_type=data["sourceType"],
            source_id=data.get("sourceId") or "",
            metadata=data.get("metadata") or {},
            server_id=data.get("id"),
        )
        return ok({"server": server_data(server)}, status.HTTP_201_CREATED)


class ServerAgentsApi(ApiView):
    """``GET|POST /message-servers/:id/agents`` (alias ``/servers/:id/agents``)."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, server_id: str) -> Response:
        server = server_or_404(server_id)
        agents = [str(agent_id) for agent_id in selectors.server_agent_ids(server.id)]
        return ok({"messageServerId": str(server.id), "agents": agents})

    @extend_schema(request=ServerAgentIdIn, responses={201: ENVELOPE})
    def post(self, request: Request, server_id: str) -> Response:
        server_uuid = parse_uuid(server_id, "messageServerId")
        agent_id = validated(ServerAgentIdIn, request.data)["agentId"]
        services.server_agent_add(server_id=server_uuid, agent_id=agent_id)
        return ok(
            {
                "messageServerId": str(server_uuid),
                "agentId": str(agent_id),
                "message": "Agent added to message server successfully",
            },
            status.HTTP_201_CREATED,
        )


class ServerAgentApi(ApiView):
    """``DELETE /message-servers/:id/agents/:agentId`` (alias under ``/servers``)."""

    @extend_schema(responses={200: ENVELOPE})
    def delete(self, request: Request, server_id: str, agent_id: str) -> Response:
        server_uuid = parse_uuid(server_id, "messageServerId")
        agent_uuid = parse_uuid(agent_id, "agentId")
        if not services.server_agent_remove(server_id=server_uuid, agent_id=agent_uuid):
            raise NotSubscribed()
        return ok(
            {
                "messageServerId": str(server_uuid),
                "agentId": str(agent_uuid),
                "message": "Agent removed from message server successfully",
            }
        )


class AgentServersApi(ApiView):
    """``GET /agents/:agentId/message-servers`` (v1.0: ``/agents/:agentId/servers``)."""

    access = {"GET": PUBLIC}

    data_key = "messageServers"

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str) -> Response:
        agent_uuid = parse_uuid(agent_id, "agentId")
        servers = [str(server_id) for server_id in selectors.agent_server_ids(agent_uuid)]
        return ok({"agentId": str(agent_uuid), self.data_key: servers})
