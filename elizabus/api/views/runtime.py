"""The server's own routes (``/api/server/...``, the reference's runtime router): ping, hello,
health, status and the message servers it holds. They answer the reference's bodies, which have
no ``{success, data}`` envelope (the SDK returns such a body as it is)."""

from __future__ import annotations

import time

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors
from elizabus.api.representations.servers import server_data
from elizabus.api.views.base import PUBLIC, ApiView
from elizabus.api.views.system import health_body
from elizabus.js import iso


class PingApi(ApiView):
    """``GET /api/server/ping``."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description="`{pong: true, timestamp}`")})
    def get(self, request: Request) -> Response:
        return Response({"pong": True, "timestamp": int(time.time() * 1000)})


class HelloApi(ApiView):
    """``GET /api/server/hello``."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description='`{message: "Hello World!"}`')})
    def get(self, request: Request) -> Response:
        return Response({"message": "Hello World!"})


class StatusApi(ApiView):
    """``GET /api/server/status``: how many agents run (are enabled)."""

    access = {"GET": PUBLIC}

    @extend_schema(
        responses={200: OpenApiResponse(description='`{status: "ok", agentCount, timestamp}`')}
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "status": "ok",
                "agentCount": selectors.enabled_agent_count(),
                "timestamp": iso(timezone.now()),
            }
        )


class ServerHealthApi(ApiView):
    """``GET /api/server/health``: as ``/health``, 503 without an enabled agent."""

    access = {"GET": PUBLIC}

    @extend_schema(
        responses={
            200: OpenApiResponse(description="`{status, version, timestamp, dependencies}`"),
            503: OpenApiResponse(description="No agent runs"),
        }
    )
    def get(self, request: Request) -> Response:
        body, status_code = health_body()
        return Response(body, status=status_code)


class DebugServersApi(ApiView):
    """``GET /api/server/debug/servers``: the reference's ``{success, servers, count}``, plus
    the same in ``data``, which is what the SDK returns of a body with ``success``."""

    @extend_schema(responses={200: OpenApiResponse(description="`{success, servers, count}`")})
    def get(self, request: Request) -> Response:
        servers = [server_data(server) for server in selectors.server_list()]
        listing = {"servers": servers, "count": len(servers)}
        return Response({"success": True, "data": listing, **listing})
