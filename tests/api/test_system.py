"""Health, metrics and the API's own description: ``/healthz``, ``/health``,
``/metrics``, ``/api/messaging/metrics``, ``/api/schema/`` and ``/api/docs/``."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver
from django.urls.resolvers import RoutePattern

from elizabus.api import urls as api_urls
from elizabus.models import Agent
from tests import factories

from .helpers import ZERO, assert_ok


def test_healthz(api):
    response = api.client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "timestamp"}
    assert body["status"] == "ok" and body["timestamp"].endswith("Z")


def test_health_is_degraded_without_an_agent(api):
    response = api.client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"status", "version", "timestamp", "dependencies", "agentCount"}
    assert body["status"] == "DEGRADED"
    assert body["dependencies"] == {"agents": "no_agents"}
    assert body["agentCount"] == 0


@pytest.mark.parametrize(("enabled", "status"), [(True, 200), (False, 503)])
def test_health_counts_enabled_agents(api, enabled, status):
    factories.make_agent(enabled=enabled)

    response = api.client.get("/health")

    assert response.status_code == status
    assert response.json()["agentCount"] == Agent.objects.filter(enabled=True).count()


def test_prometheus_metrics_count_bus_events(
    api, room, metrics, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api.post(room.messages, {"author_id": str(room.alice), "content": "hi", "server_id": ZERO})

    response = api.client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert 'elizabus_bus_events_total{event="new_message"} 1' in response.content.decode()


def test_bus_metrics_in_the_envelope(api, metrics):
    data = assert_ok(api.get("metrics"))

    assert {"eventCounts", "receivers"} <= set(data)
    assert data["eventCounts"] == {}


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    """The path of every route in ``patterns``, includes unfolded, regular-expression ones
    (the catch-all 404s, the pages) left out."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and isinstance(pattern.pattern, RoutePattern):
            found.append(prefix + str(pattern.pattern))
    return found


def test_schema_describes_every_api_route(api):
    response = api.client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    routes = [
        route
        for route in _routes(api_urls.urlpatterns)
        if route.startswith("api/") and route not in {"api/schema/", "api/docs/"}
    ]
    assert len(routes) > 80
    for route in routes:
        openapi = "/" + route.replace("<str:", "{").replace(">", "}")
        assert openapi in paths, openapi
    path_parameters = [
        parameter
        for operations in paths.values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]
    assert path_parameters
    assert all(p["schema"] == {"type": "string", "format": "uuid"} for p in path_parameters)
    operation_ids = [
        operation["operationId"]
        for operations in paths.values()
        for operation in operations.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


def test_docs_page_loads_the_schema(api):
    response = api.client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"/api/schema/" in response.content
