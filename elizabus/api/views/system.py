"""Health and metrics (SPEC B1.6, the seed's bus metrics)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors
from elizabus.api.envelope import ok
from elizabus.api.representations import iso
from elizabus.api.views.base import ApiView
from elizabus.bus.metrics import bus_metrics


def healthz(request: HttpRequest) -> JsonResponse:
    """``GET /healthz``: the process answers."""
    return JsonResponse({"status": "ok", "timestamp": iso(timezone.now())})


def health(request: HttpRequest) -> JsonResponse:
    """``GET /health``: 200 with enabled agents, 503 without; the reference's body, key for key."""
    agents = selectors.enabled_agent_count()
    body = {
        "status": "OK" if agents else "DEGRADED",
        "version": settings.SPECTACULAR_SETTINGS.get("VERSION", "unknown"),
        "timestamp": iso(timezone.now()),
        "dependencies": {"agents": "healthy" if agents else "no_agents"},
        "agentCount": agents,
    }
    return JsonResponse(body, status=200 if agents else 503)


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the bus metrics in the Prometheus text format."""
    return HttpResponse(bus_metrics.prometheus(), content_type="text/plain; version=0.0.4")


class BusMetricsApi(ApiView):
    """``GET /api/messaging/metrics``: per event type, counts and receiver latencies."""

    throttle_classes: list[type] = []

    @extend_schema(responses={200: OpenApiResponse(description="`{eventCounts, receivers}`")})
    def get(self, request: Request) -> Response:
        return ok(bus_metrics.snapshot())
