"""Health, metrics and the system routes (the reference's ``/healthz`` and ``/health``, the
seed's bus metrics, and the reference's ``/api/system``: version, config and the local
environment)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import breakers, selectors
from elizabus.api.envelope import ok
from elizabus.api.errors import error_response
from elizabus.api.views.base import PUBLIC, ApiView
from elizabus.apps import uptime_seconds
from elizabus.bus.metrics import bus_metrics
from elizabus.conf import app_settings
from elizabus.db import batches
from elizabus.exceptions import Forbidden, MethodNotAllowed, ServiceUnavailable
from elizabus.js import iso


def server_version() -> str:
    return str(settings.SPECTACULAR_SETTINGS.get("VERSION", "unknown"))


def health_body() -> tuple[dict[str, object], int]:
    """The reference's health answer and status (:func:`health_answer`), from this thread."""
    agents = selectors.enabled_agent_count() if breakers.database.allow() else None
    return health_answer(agents)


def health_answer(agents: int | None) -> tuple[dict[str, object], int]:
    """The reference's health answer and status: 200 with enabled agents, 503 without. A
    dependency that is down (its breaker open, elizabus/breakers.py; the database also when
    ``agents`` is None, not counted in time) is named under ``dependencies`` as
    ``unavailable``, and the status is then ``DEGRADED``."""
    down = [breaker.name for breaker in breakers.BREAKERS if breaker.configured and breaker.is_open]
    if agents is None and "database" not in down:
        down.append("database")
    dependencies = {"agents": "healthy" if agents else "no_agents"}
    dependencies.update(dict.fromkeys(down, "unavailable"))
    body: dict[str, object] = {
        "status": "OK" if agents and not down else "DEGRADED",
        "version": server_version(),
        "timestamp": iso(timezone.now()),
        "dependencies": dependencies,
        "agentCount": agents or 0,
    }
    return body, 200 if agents else 503


async def healthz(request: HttpRequest) -> JsonResponse:
    """``GET /healthz``: the process answers. Async, so that it needs no trip to the sync
    thread, where a query to a database that hangs may hold everything behind it: the proxy's
    checks must not take the server out for that."""
    return JsonResponse({"status": "ok", "timestamp": iso(timezone.now())})


async def health(request: HttpRequest) -> JsonResponse:
    """``GET /health``: the reference's body, key for key; the agents are counted within the
    request path's database deadline (``db/batches.py``)."""
    agents = None
    if breakers.database.allow():
        with contextlib.suppress(ServiceUnavailable):
            agents = await batches.run(selectors.enabled_agent_count, write=False)
    body, status_code = health_answer(agents)
    return JsonResponse(body, status=status_code)


async def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the bus metrics and the dependencies' breakers in the Prometheus text
    format. Other methods are 405: an ``OPTIONS`` used to answer the metrics too. Async, as
    ``/healthz`` is: it must answer while the sync thread waits on a database that hangs."""
    if request.method not in ("GET", "HEAD"):
        response = error_response(MethodNotAllowed(f"Method {request.method} not allowed"))
        response["Allow"] = "GET, HEAD"
        return response
    text = bus_metrics.prometheus() + breakers.prometheus()
    return HttpResponse(text, content_type="text/plain; version=0.0.4")


class BusMetricsApi(ApiView):
    """``GET /api/messaging/metrics``: per event type, counts and receiver latencies."""

    throttle_classes: list[type] = []

    @extend_schema(responses={200: OpenApiResponse(description="`{eventCounts, receivers}`")})
    def get(self, request: Request) -> Response:
        dependencies = {b.name: b.snapshot() for b in breakers.BREAKERS if b.configured}
        return ok({**bus_metrics.snapshot(), "dependencies": dependencies})


class VersionApi(ApiView):
    """``GET /api/system/version``: the reference's body (no envelope)."""

    access = {"GET": PUBLIC}

    @extend_schema(
        responses={200: OpenApiResponse(description="`{version, source, timestamp, …}`")}
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "version": server_version(),
                "source": "server",
                "timestamp": iso(timezone.now()),
                "environment": "development" if settings.DEBUG else "production",
                "uptime": uptime_seconds(),
            }
        )


class ConfigApi(ApiView):
    """``GET /api/system/config``: whether clients must authenticate users (elizaOS data
    isolation, which elizabus does not have)."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description="`{success, data: {…}}`")})
    def get(self, request: Request) -> Response:
        # As the reference's: whether a client must log in (/api/auth/) for a token. The API
        # key is not a log-in: the elizaOS UI asks for it on its first 401.
        return ok({"requiresAuth": bool(app_settings.DATA_ISOLATION)})


def _flag(value: object) -> str:
    return "true" if value else "false"


# What GET /api/system/env/local may show, and nothing else: each name is a setting that holds
# no secret, shown as the server uses it. Secrets (DJANGO_SECRET_KEY, ELIZA_SERVER_AUTH_TOKEN,
# OPENAI_API_KEY) and URLs that may carry passwords (DATABASE_URL, REDIS_URL) are never read
# here; whether they are set is told by a flag or the database vendor at most.
ENVIRONMENT_ALLOW_LIST: dict[str, Callable[[], str]] = {
    "ELIZABUS_VERSION": server_version,
    "DJANGO_DEBUG": lambda: _flag(settings.DEBUG),
    "DATABASE_VENDOR": lambda: connection.vendor,
    "REDIS_CONFIGURED": lambda: _flag(settings.REDIS_URL),
    "API_KEY_REQUIRED": lambda: _flag(settings.ELIZA_SERVER_AUTH_TOKEN),
    "ELIZABUS_RUN_AGENTS": lambda: _flag(app_settings.RUN_AGENTS_IN_PROCESS),
    "ELIZABUS_BUS_TRANSPORT": lambda: app_settings.BUS_TRANSPORT,
    "ELIZABUS_API_RATE": lambda: app_settings.API_RATE or "",
    "ELIZABUS_AGENT_HOP_LIMIT": lambda: str(app_settings.AGENT_HOP_LIMIT),
    "ELIZABUS_DEFAULT_RESPONDER": lambda: app_settings.DEFAULT_RESPONDER,
    "ELIZABUS_LOG_RING_SIZE": lambda: str(app_settings.LOG_RING_SIZE),
}


class LocalEnvironmentApi(ApiView):
    """``GET /api/system/env/local``: :data:`ENVIRONMENT_ALLOW_LIST`, never the process
    environment (the reference answers its ``.env`` file, secrets and all). Behind the API key
    when one is set, like all of ``/api``. ``POST`` (the reference rewrites its ``.env``) is
    refused: settings change with a deployment, not over HTTP."""

    @extend_schema(responses={200: OpenApiResponse(description="`{success, data: {name: value}}`")})
    def get(self, request: Request) -> Response:
        return ok({name: read() for name, read in ENVIRONMENT_ALLOW_LIST.items()})

    @extend_schema(request=None, responses={403: OpenApiResponse(description="Refused")})
    def post(self, request: Request) -> Response:
        raise Forbidden("Local environment updates are disabled")
