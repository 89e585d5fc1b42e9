"""The recent log of this process (``/api/server/logs``, ``/api/agents/:agentId/logs``), read
from the ring :mod:`elizabus.logs` keeps. Per process, as the reference's: behind a load
balancer each process answers with its own log."""

from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus.api.envelope import ok, validated
from elizabus.api.serializers.logs import LogListQuery
from elizabus.api.views.base import AGENT, ApiView, agent_or_404
from elizabus.logs import LEVELS, LogQuery, log_ring

DEFAULT_WINDOW_MS = 3_600_000  # the reference's default ``since``: the last hour
DEFAULT_LIMIT = 100
LOG_QUERY = [
    OpenApiParameter("level", str, description="a level name (exact match) or `all`"),
    OpenApiParameter("agentName", str),
    OpenApiParameter("agentId", str),
    OpenApiParameter("since", int, description="epoch ms; default an hour ago"),
    OpenApiParameter("limit", int, description="1-1000, default 100"),
]


def _log_query(request: Request, *, agent_id: str | None = None) -> tuple[LogQuery, dict[str, Any]]:
    """The ring query a request asks for, and the validated parameters."""
    params = validated(LogListQuery, request.query_params.dict())
    since = params.get("since")
    agent = agent_id or (str(params["agentId"]) if "agentId" in params else None)
    query = LogQuery(
        since_ms=since if since is not None else int(time.time() * 1000) - DEFAULT_WINDOW_MS,
        level=None if params["level"] == "all" else LEVELS[params["level"]],
        agent_name=params.get("agentName"),
        agent_id=agent,
        limit=params.get("limit") or params.get("count") or DEFAULT_LIMIT,
    )
    return query, params


class ServerLogsApi(ApiView):
    """``GET /api/server/logs``: the newest entries that match, oldest first, in the
    reference's body (no envelope); ``POST`` answers the same, as the reference does (what
    is posted is not logged); ``DELETE`` empties this process's ring."""

    @extend_schema(
        parameters=LOG_QUERY,
        responses={200: OpenApiResponse(description="`{logs, count, total, levels, …}`")},
    )
    def get(self, request: Request) -> Response:
        query, params = _log_query(request)
        entries, total = log_ring.query(query)
        body: dict[str, Any] = {
            "logs": entries,
            "count": len(entries),
            "total": total,
            "requestedLevel": params["level"],
            "agentName": params.get("agentName", "all"),
            "agentId": query.agent_id or "all",
            "levels": list(LEVELS),
        }
        return Response(body)

    @extend_schema(
        parameters=LOG_QUERY,
        request=None,
        responses={200: OpenApiResponse(description="As GET")},
    )
    def post(self, request: Request) -> Response:
        return self.get(request)

    @extend_schema(responses={200: OpenApiResponse(description="`{status, message, cleared}`")})
    def delete(self, request: Request) -> Response:
        cleared = log_ring.clear()
        return Response(
            {"status": "success", "message": "Logs cleared successfully", "cleared": cleared}
        )


class AgentLogsApi(ApiView):
    """``GET /api/agents/:agentId/logs``: this process's recent entries that name the agent
    (``count`` or ``limit``, ``level``, ``since``), oldest first."""

    access = {"GET": AGENT}

    @extend_schema(
        parameters=[*LOG_QUERY, OpenApiParameter("count", int, description="as limit")],
        responses={200: OpenApiResponse(description="`{success, data: [entry]}`")},
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(agent_id)
        query, _ = _log_query(request, agent_id=str(agent.entity_id))
        entries, _ = log_ring.query(query)
        return ok(entries)
